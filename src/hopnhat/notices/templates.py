"""The texts of the notices: bundled Vietnamese defaults per event and channel, an administrator's versions in the
store (``NoticeTemplate``), rendered by Jinja in a sandbox (a template reads the notice's fields and nothing else).

Every template may use: ``center_name``, ``center_phone`` (empty when the registry has none: never invented),
``dossier_code``, ``procedure_name``, ``lookup_url``, ``stop_url``, ``due_date`` (dd/mm/yyyy, Vietnam time),
``new_date`` (a delay's new date), ``items`` (a supplement's list), ``where`` and ``reason``.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Any

from jinja2 import Template as Template_
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from hopnhat.errors import InvalidInput
from hopnhat.store.outbox import NOTICE_EVENTS

CHANNELS = ("email", "sms", "zalo")
MAX_BODY = 4000
MAX_SUBJECT = 200

_FOOTER_EMAIL = """
{{ center_name }}{% if center_phone %} - Điện thoại: {{ center_phone }}{% endif %}
Tra cứu hồ sơ: {{ lookup_url }}

Quý vị nhận thư này vì đã đồng ý nhận thông báo về hồ sơ {{ dossier_code }}.
Để không nhận thông báo nữa: {{ stop_url }}"""

_FOOTER_TEXT = (
    " Tra cuu: {{ lookup_url }}{% if center_phone %} DT: {{ center_phone }}{% endif %} Ngung nhan tin: {{ stop_url }}"
)
"""The SMS defaults go without diacritics: brand-name SMS in Vietnam are billed and often only accepted as GSM
text (160 characters a segment, 70 with Unicode). Zalo's are Unicode, so they keep them. An administrator may
change either (Unicode is accepted)."""

_FOOTER_ZALO = (
    " Tra cứu: {{ lookup_url }}{% if center_phone %} ĐT: {{ center_phone }}{% endif %}"
    " Ngừng nhận thông báo: {{ stop_url }}"
)


@dataclass(frozen=True)
class Template:
    event: str
    channel: str
    subject: str | None
    body: str
    edited_by: str | None = None
    """None for the bundled default."""


_EMAIL: dict[str, tuple[str, str]] = {
    "receipt": (
        "Đã tiếp nhận hồ sơ {{ dossier_code }}",
        "Kính gửi Quý ông/bà,\n\n{{ center_name }} đã tiếp nhận hồ sơ {{ dossier_code }}"
        "{% if procedure_name %} ({{ procedure_name }}){% endif %}."
        "{% if due_date %}\nNgày hẹn trả kết quả: {{ due_date }}.{% endif %}\n",
    ),
    "supplement": (
        "Yêu cầu bổ sung hồ sơ {{ dossier_code }}",
        "Kính gửi Quý ông/bà,\n\nHồ sơ {{ dossier_code }} cần bổ sung các giấy tờ sau:\n"
        "{% for item in items %}- {{ item }}\n{% endfor %}"
        "{% if where %}Nơi nộp bổ sung: {{ where }}.\n{% endif %}"
        "Thời hạn giải quyết tạm dừng cho đến khi nhận đủ giấy tờ bổ sung.\n",
    ),
    "refusal": (
        "Từ chối hồ sơ {{ dossier_code }}",
        "Kính gửi Quý ông/bà,\n\nHồ sơ {{ dossier_code }} không được tiếp nhận giải quyết.\nLý do: {{ reason }}\n",
    ),
    "delay": (
        "Gia hạn thời gian trả kết quả hồ sơ {{ dossier_code }}",
        "Kính gửi Quý ông/bà,\n\n{{ center_name }} xin lỗi vì chưa trả kết quả hồ sơ {{ dossier_code }} đúng hẹn.\n"
        "Ngày hẹn trả kết quả mới: {{ new_date }}.\n",
    ),
    "result": (
        "Đã có kết quả hồ sơ {{ dossier_code }}",
        "Kính gửi Quý ông/bà,\n\nHồ sơ {{ dossier_code }}"
        "{% if procedure_name %} ({{ procedure_name }}){% endif %} đã có kết quả.\n"
        "Mời Quý ông/bà đến {{ center_name }} nhận kết quả.\n",
    ),
}

_TEXT: dict[str, str] = {
    "receipt": "{{ center_name }}: da tiep nhan ho so {{ dossier_code }}"
    "{% if due_date %}, hen tra {{ due_date }}{% endif %}.",
    "supplement": "{{ center_name }}: ho so {{ dossier_code }} can bo sung: {{ items | join('; ') }}.",
    "refusal": "{{ center_name }}: ho so {{ dossier_code }} bi tu choi. Ly do: {{ reason }}.",
    "delay": "{{ center_name }}: ho so {{ dossier_code }} gia han, hen tra moi {{ new_date }}.",
    "result": "{{ center_name }}: ho so {{ dossier_code }} da co ket qua, moi den nhan.",
}


_ZALO: dict[str, str] = {
    "receipt": "{{ center_name }} đã tiếp nhận hồ sơ {{ dossier_code }}"
    "{% if due_date %}, hẹn trả {{ due_date }}{% endif %}.",
    "supplement": "Hồ sơ {{ dossier_code }} cần bổ sung: {{ items | join('; ') }}"
    "{% if where %} (nộp tại {{ where }}){% endif %}.",
    "refusal": "Hồ sơ {{ dossier_code }} bị từ chối. Lý do: {{ reason }}.",
    "delay": "{{ center_name }} xin lỗi: hồ sơ {{ dossier_code }} được gia hạn, hẹn trả mới {{ new_date }}.",
    "result": "Hồ sơ {{ dossier_code }} đã có kết quả, mời đến {{ center_name }} nhận.",
}


def default(event: str, channel: str) -> Template:
    if channel == "email":
        subject, body = _EMAIL[event]
        return Template(event, channel, subject, body + _FOOTER_EMAIL)
    if channel == "zalo":
        return Template(event, channel, None, _ZALO[event] + _FOOTER_ZALO)
    return Template(event, channel, None, _TEXT[event] + _FOOTER_TEXT)


def defaults() -> list[Template]:
    return [default(e, c) for e in NOTICE_EVENTS for c in CHANNELS]


_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
"""Plain text (e-mails are sent as text/plain, SMS are text): nothing to escape; the sandbox keeps an edited
template from reaching attributes beyond the fields it is given."""

SAMPLE: dict[str, Any] = {
    "center_name": "Trung tâm Phục vụ hành chính công thành phố Cần Thơ",
    "center_phone": "0292 3 000 000",
    "dossier_code": "000.00.31.H13-260210-0001",
    "procedure_name": "Đăng ký khai sinh",
    "lookup_url": "https://example.invalid/lookup?code=000.00.31.H13-260210-0001",
    "stop_url": "https://example.invalid/notices/stop/x",
    "due_date": "13/02/2026",
    "new_date": "20/02/2026",
    "items": ["Bản sao giấy chứng nhận kết hôn"],
    "where": "Quầy số 3",
    "reason": "Hồ sơ không thuộc thẩm quyền",
}
"""What a template is checked against when an administrator saves it."""


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Template_:
    # Compiling is ~6 ms and rendering ~0.05 ms: a batch renders the same few templates hundreds of times.
    return _ENV.from_string(text)


def render(text: str, context: dict[str, Any]) -> str:
    """Render ``text``; an error names the template's fault (the relay dead-letters the notice with it)."""
    try:
        return unicodedata.normalize("NFC", _compiled(text).render(**context))
    except TemplateError as exc:
        raise InvalidInput(f"template: {exc}") from None
    except Exception as exc:
        raise InvalidInput(f"template: {type(exc).__name__}: {exc}") from None


def check(event: str, channel: str, subject: str | None, body: str) -> tuple[str | None, str]:
    """A template as an administrator gives it, cleaned and checked by rendering it with :data:`SAMPLE`."""
    if event not in NOTICE_EVENTS:
        raise InvalidInput(f"event {event[:40]!r}: one of {', '.join(NOTICE_EVENTS)}")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel {channel[:40]!r}: one of {', '.join(CHANNELS)}")
    body = unicodedata.normalize("NFC", body or "").strip()
    if not body or len(body) > MAX_BODY:
        raise InvalidInput(f"template {event}/{channel}: a body of 1-{MAX_BODY} characters is required")
    if "stop_url" not in body:
        raise InvalidInput(f"template {event}/{channel}: the body must give {{{{ stop_url }}}} (how to stop notices)")
    clean_subject: str | None = None
    if channel == "email":
        clean_subject = " ".join(unicodedata.normalize("NFC", subject or "").split())
        if not clean_subject or len(clean_subject) > MAX_SUBJECT:
            raise InvalidInput(f"template {event}/email: a subject of 1-{MAX_SUBJECT} characters is required")
        render(clean_subject, SAMPLE)
    render(body, SAMPLE)
    return clean_subject, body


__all__ = ["CHANNELS", "SAMPLE", "Template", "check", "default", "defaults", "render"]
