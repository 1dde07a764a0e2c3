"""Rules of the notices: what a notice says and to whom, the opt-out token, templates and dead letters (audited).
No HTTP, no commit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ, Settings
from hopnhat.db import utcnow
from hopnhat.errors import Conflict, InvalidInput, NotFound
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.notices import repository as repo
from hopnhat.notices import templates as tpl
from hopnhat.notices.models import NoticeTemplate
from hopnhat.notices.schemas import DeadNotice, NoticeCounts, TemplateOut
from hopnhat.notices.senders import Message
from hopnhat.portal.repository import DEAD, DELIVERED, PENDING, SKIPPED
from hopnhat.store.models import NOTICE_DESTINATIONS, Dossier

log = logging.getLogger(__name__)

# -- the stable id and the opt-out token ------------------------------------------------------------------------


def message_id(idempotency_key: str) -> str:
    """The notice's id, the same on every send (``Message-ID`` of an e-mail, ``id`` of a gateway call)."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def _sign(secret: str, code: str) -> str:
    digest = hmac.new(secret.encode(), f"notice-stop:{code}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def stop_token(secret: str, code: str) -> str:
    """``<dossier code>.<signature>``: names the dossier (a code is not personal data, the public lookup takes it)
    and cannot be made for another dossier without the store's secret key (144 bits)."""
    return f"{code}.{_sign(secret, code)}"


def read_token(secret: str, token: str) -> str | None:
    """The dossier code a genuine token names, or None."""
    if len(token) > 120:
        return None
    code, sep, signature = token.rpartition(".")
    if not sep or not code or not hmac.compare_digest(signature.encode(), _sign(secret, code).encode()):
        return None
    return code


def opt_out(session: Session, secret: str, token: str, client: str | None) -> str:
    """Record that the applicant wants no more notices about the token's dossier (consent withdrawn, audited;
    queued notices are dropped by the relay, which reads the consent at delivery). Idempotent."""
    code = read_token(secret, token)
    dossier = session.scalar(select(Dossier).where(Dossier.code == code)) if code else None
    if dossier is None or code is None:
        raise NotFound("this link to stop notices is not valid")
    if dossier.notice_consent:
        dossier.notice_consent = False
        audit.record(
            session,
            None,
            "notice.opt_out",
            object_type="dossier",
            object_id=code,
            changes={"notice_consent": [True, False]},
            client=client,
        )
        log.info("notices stopped for dossier %s at the applicant's request", code)
    return code


# -- what a notice says ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A claimed notice, ready to send (``message``) or to drop (``skip`` says why)."""

    event_id: int
    attempts: int
    message: Message | None = None
    skip: str | None = None
    error: str | None = None
    """A template that cannot be rendered: a dead letter at once."""


def _vn_date(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(VN_TZ).strftime("%d/%m/%Y")
    except ValueError:
        return ""


def prepare(session: Session, rows: Sequence[Any], destination: str, settings: Settings, secret: str) -> list[Prepared]:
    """Render the claimed notices of ``destination`` (rows of ``claim_heads``), reading consent and contacts now."""
    codes = [r.dossier_code for r in rows]
    people = repo.contacts(session, codes)
    centers = repo.centers(session, [str(r.payload.get("center_code") or "") for r in rows])
    saved = repo.templates(session)
    base = settings.notice_public_url.rstrip("/")
    out: list[Prepared] = []
    for r in rows:
        person = people.get(r.dossier_code)
        to = None
        if person is not None:
            to = person.email if destination == "email" else person.phone
        if person is None or not person.consent:
            out.append(Prepared(r.id, r.attempts, skip="no consent (the applicant stopped notices)"))
            continue
        if not to or not to.strip():
            out.append(Prepared(r.id, r.attempts, skip=f"no {destination} contact given with the dossier"))
            continue
        payload: dict[str, Any] = r.payload or {}
        event = str(payload.get("event") or r.kind)
        params: dict[str, Any] = dict(payload.get("params") or {})
        center_name, center_phone = centers.get(str(payload.get("center_code") or ""), (None, None))
        stop_url = f"{base}/notices/stop/{quote(stop_token(secret, r.dossier_code), safe='')}"
        context: dict[str, Any] = {
            "center_name": center_name or settings.notice_center_name,
            "center_phone": center_phone or settings.notice_center_phone,
            "dossier_code": r.dossier_code,
            "procedure_name": payload.get("procedure_name") or "",
            "lookup_url": f"{base}/lookup?{urlencode({'code': r.dossier_code})}",
            "stop_url": stop_url,
            "due_date": _vn_date(params.get("due_at")),
            "new_date": _vn_date(params.get("new_due_at")),
            "items": [str(i) for i in params.get("items") or []],
            "where": params.get("where") or "",
            "reason": params.get("reason") or "",
        }
        own = saved.get((event, destination))
        template = (
            tpl.Template(event, destination, own.subject, own.body, own.updated_by)
            if own is not None
            else tpl.default(event, destination)
        )
        try:
            text = tpl.render(template.body, context)
            subject = tpl.render(template.subject, context) if template.subject else None
        except InvalidInput as exc:
            out.append(Prepared(r.id, r.attempts, error=exc.detail))
            continue
        flat = {k: (", ".join(v) if isinstance(v, list) else str(v)) for k, v in context.items()}
        message = Message(
            id=message_id(r.idempotency_key),
            to=to.strip(),
            text=text,
            event=event,
            subject=" ".join((subject or "").split()) or None,
            stop_url=stop_url,
            params=flat,
        )
        out.append(Prepared(r.id, r.attempts, message=message))
    return out


# -- templates ---------------------------------------------------------------------------------------------------


def _out(t: tpl.Template) -> TemplateOut:
    return TemplateOut(event=t.event, channel=t.channel, subject=t.subject, body=t.body, edited_by=t.edited_by)


def list_templates(session: Session) -> list[TemplateOut]:
    saved = repo.templates(session)
    out = []
    for d in tpl.defaults():
        own = saved.get((d.event, d.channel))
        out.append(_out(tpl.Template(d.event, d.channel, own.subject, own.body, own.updated_by) if own else d))
    return out


def edit_template(
    session: Session, principal: Principal, event: str, channel: str, subject: str | None, body: str
) -> TemplateOut:
    """Save an administrator's version of one template (checked by rendering it; audited with the change)."""
    clean_subject, clean_body = tpl.check(event, channel, subject, body)
    by = principal.username or "cli"
    row = repo.get_template(session, event, channel)
    before = (row.subject, row.body) if row is not None else (tpl.default(event, channel).subject, None)
    if row is None:
        row = NoticeTemplate(event=event, channel=channel, subject=clean_subject, body=clean_body, updated_by=by)
        session.add(row)
    else:
        row.subject, row.body, row.updated_by, row.updated_at = clean_subject, clean_body, by, utcnow()
    session.flush()
    audit.record(
        session,
        principal,
        "notice.template.edit",
        object_type="notice_template",
        object_id=f"{event}/{channel}",
        changes={
            "subject": [before[0], clean_subject],
            "body": [None if before[1] is None else f"{len(before[1])} characters", f"{len(clean_body)} characters"],
        },
    )
    return _out(tpl.Template(event, channel, clean_subject, clean_body, by))


# -- dead letters ------------------------------------------------------------------------------------------------


def dead_letters(session: Session, dossier_code: str | None = None, limit: int = 500) -> list[DeadNotice]:
    return [
        DeadNotice(
            id=e.id,
            dossier_code=e.dossier_code,
            channel=e.destination,
            event=e.kind,
            attempts=e.attempts,
            last_error=e.last_error,
            created_at=e.created_at,
        )
        for e in repo.dead(session, dossier_code, max(1, min(limit, 5000)))
    ]


def resend(session: Session, principal: Principal, event_id: int) -> DeadNotice:
    """Put a dead notice back in its channel's queue (same message id, attempts reset; audited)."""
    event = repo.get_notice(session, event_id)
    if event is None:
        raise NotFound(f"notice {event_id} does not exist")
    if event.state != DEAD:
        raise Conflict(f"notice {event_id} is {event.state}, not dead: only a dead notice can be resent")
    repo.requeue(session, event_id, utcnow())
    audit.record(
        session,
        principal,
        "notice.resend",
        object_type="dossier",
        object_id=event.dossier_code,
        changes={"notice": [None, f"{event.destination} {event.kind} #{event.id}"], "state": [DEAD, PENDING]},
    )
    return DeadNotice(
        id=event.id,
        dossier_code=event.dossier_code,
        channel=event.destination,
        event=event.kind,
        attempts=0,
        last_error=event.last_error,
        created_at=event.created_at,
    )


def counts(session: Session) -> list[NoticeCounts]:
    found = repo.counts(session)
    out = []
    for d in NOTICE_DESTINATIONS:
        out.append(
            NoticeCounts(
                channel=d.value,
                pending=found.get((d.value, PENDING), 0),
                delivered=found.get((d.value, DELIVERED), 0),
                dead=found.get((d.value, DEAD), 0),
                skipped=found.get((d.value, SKIPPED), 0),
            )
        )
    return out


def parse_channel(value: str) -> str:
    if value not in {d.value for d in NOTICE_DESTINATIONS}:
        raise InvalidInput(f"channel {value[:40]!r}: one of {', '.join(d.value for d in NOTICE_DESTINATIONS)}")
    return value


__all__ = [
    "Prepared",
    "counts",
    "dead_letters",
    "edit_template",
    "list_templates",
    "message_id",
    "opt_out",
    "parse_channel",
    "prepare",
    "read_token",
    "resend",
    "stop_token",
]
