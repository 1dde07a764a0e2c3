"""From an outbox event's neutral snapshot to the portal's records.

``kind == "dossier"`` becomes a ``DongBoHoSoMC`` record (create/update the dossier), ``kind == "step"`` a
``CapNhatTienDoHoSoMC`` record (one processing step). Dates go out as ``yyyyMMddHHmmss`` in Vietnam time, the way
provincial systems send them; missing optional dates go out as empty strings.

Bad content, the way real systems treat it (DOMAIN.md): free text over the portal's limits is cut (``NguoiXuLy``
50, ``TrichYeuHoSo`` 1,000 characters), since a cut name still tells the story; an identifier the portal cannot
take (``MaHoSo``, the identity number) is never cut nor guessed: the event goes to the dead letters with the
reason, for an administrator to mend (:data:`MENDABLE_FIELDS`) or skip.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from hopnhat.config import VN_TZ
from hopnhat.errors import InvalidInput

PORTAL_DATE_FORMAT = "%Y%m%d%H%M%S"

SERVICE_DOSSIER = "DongBoHoSoMC"
SERVICE_STEP = "CapNhatTienDoHoSoMC"
SERVICE_LOOKUP = "TraCuuHoSo"
SERVICE_PROCEDURES = "LayThuTuc"

REQUIRED_DOSSIER_FIELDS = ("MaHoSo", "MaTTHC", "ChuHoSo", "NgayTiepNhan", "TrangThaiHoSo", "KenhThucHien")
"""Fields without which the portal rejects a dossier record (the simulator enforces the same list)."""
REQUIRED_STEP_FIELDS = ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy", "TrangThai")

TEXT_LIMITS = {"NguoiXuLy": 50, "TrichYeuHoSo": 1000, "ChucDanh": 250, "NoiDungXuLy": 2000, "GhiChu": 2000}
"""Free-text fields the portal bounds, and how many characters it takes (what real systems cut to)."""

DOSSIER_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")
"""What the portal takes as ``MaHoSo``: agency code, date and counter joined by ``-``; ASCII, at most 50."""

MENDABLE_FIELDS = ("MaHoSo", "MaTTHC", "MaLinhVuc", "DonViXuLy", "NoiNopHoSo")
"""Identifiers an administrator may correct on a dead letter (stored per dossier; applied to all its records)."""

LOAI_DINH_DANH = {"cccd": 1, "cmnd": 2}
"""``LoaiDinhDanh`` of the identity papers the portal knows; the number length each must have is below."""
_ID_DIGITS = {"cccd": 12, "cmnd": 9}


def portal_date(value: datetime | str | None) -> str:
    """An instant as ``yyyyMMddHHmmss`` in Vietnam time; ``""`` for no date. Naive values are refused."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"date {value!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise InvalidInput(f"date {value.isoformat()} has no time zone")
    return value.astimezone(VN_TZ).strftime(PORTAL_DATE_FORMAT)


def parse_portal_date(value: str) -> datetime:
    """The inverse of :func:`portal_date`: an aware UTC instant."""
    try:
        local = datetime.strptime(value, PORTAL_DATE_FORMAT)
    except ValueError:
        raise InvalidInput(f"date {value!r} is not yyyyMMddHHmmss") from None
    return local.replace(tzinfo=VN_TZ).astimezone(UTC)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def cut(value: Any, limit: int) -> str:
    """Free text as the portal takes it: NFC, stripped, the first ``limit`` characters."""
    text = unicodedata.normalize("NFC", str(value or "")).strip()
    return text[:limit]


def _flag(value: Any) -> int:
    return 1 if value else 0


def identity_fields(id_type: str | None, id_number: str | None) -> dict[str, Any]:
    """``SoGiayToChuHoSo`` and ``DinhDanhCHS`` of the applicant; an ID number the portal cannot take raises."""
    number = (id_number or "").strip()
    if not number:
        return {"SoGiayToChuHoSo": "", "DinhDanhCHS": []}
    kind = (id_type or "").strip()
    if kind in _ID_DIGITS and not (number.isascii() and number.isdigit() and len(number) == _ID_DIGITS[kind]):
        raise InvalidInput(f"SoDinhDanh: a {kind} number must be {_ID_DIGITS[kind]} digits (got {len(number)} chars)")
    papers = [{"LoaiDinhDanh": LOAI_DINH_DANH[kind], "SoDinhDanh": number}] if kind in LOAI_DINH_DANH else []
    return {"SoGiayToChuHoSo": number, "DinhDanhCHS": papers}


def check_dossier_code(code: str) -> None:
    """Refuse a ``MaHoSo`` the portal cannot take (the dead letter says why; an administrator mends it)."""
    if not DOSSIER_CODE_PATTERN.fullmatch(code):
        shown = code.encode("ascii", "backslashreplace").decode()[:80]
        raise InvalidInput(f"MaHoSo {shown!r} cannot be sent: ASCII letters, digits, '.', '-', '_', at most 50")


def dossier_record(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The ``DongBoHoSoMC`` record of a dossier snapshot (see :func:`hopnhat.store.outbox.dossier_snapshot`).

    The Decision 766 fields come from the dossier's columns: channel, submission and refusal dates, digitised
    documents, VNeID sign-in, online payment, the center the dossier was handed in at. The applicant's identity
    number and e-mail are not in the snapshot (the outbox keeps no more personal data than it must): the relay adds
    them at delivery (:func:`identity_fields`).
    """
    return {
        "MaHoSo": snapshot.get("code") or "",
        "MaTTHC": snapshot.get("procedure_code") or "",
        "TenTTHC": snapshot.get("procedure_name") or "",
        "MaLinhVuc": snapshot.get("field_code") or "",
        "ChuHoSo": snapshot.get("applicant_name") or "",
        "LoaiDoiTuong": str(snapshot.get("applicant_type") or 1),
        "NgayTiepNhan": portal_date(snapshot.get("received_at")),
        "NgayHenTra": portal_date(snapshot.get("due_at")),
        "TrangThaiHoSo": str(snapshot.get("status") or ""),
        # NgayTra is the day the result went back to the applicant; before that, the day processing finished
        "NgayTra": portal_date(snapshot.get("returned_at") or snapshot.get("finished_at")),
        "DonViXuLy": snapshot.get("center_code") or snapshot.get("unit_code") or "",
        "KenhThucHien": str(snapshot.get("channel") or 1),
        "TaiLieuNop": _list(snapshot.get("documents")),
        "DanhSachLePhi": _list(snapshot.get("fees")),
        "DanhSachHoSoBoSung": _list(snapshot.get("supplements")),
        "DanhSachGiayToKetQua": _list(snapshot.get("results")),
        "TrichYeuHoSo": cut(snapshot.get("summary") or snapshot.get("procedure_name"), TEXT_LIMITS["TrichYeuHoSo"]),
        "NgayKetThucXuLy": portal_date(snapshot.get("finished_at")),
        "NgayNopHoSo": portal_date(snapshot.get("submitted_at") or snapshot.get("received_at")),
        "NgayTuChoi": portal_date(snapshot.get("refused_at")),
        "NoiNopHoSo": snapshot.get("received_center_code") or snapshot.get("center_code") or "",
        "HoSoCoThanhPhanSoHoa": _flag((snapshot.get("digitised_documents") or 0) > 0),
        "TaiKhoanDuocXacThucVoiVNeID": _flag(snapshot.get("vneid_signin")),
        "DuocThanhToanTrucTuyen": _flag(snapshot.get("paid_online")),
        "SoGiayToChuHoSo": "",
        "DinhDanhCHS": [],
        "Email": "",
    }


def step_record(snapshot: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """The ``CapNhatTienDoHoSoMC`` record of one processing step of the dossier in ``snapshot``."""
    return {
        "MaHoSo": snapshot.get("code") or "",
        "NguoiXuLy": cut(step.get("actor"), TEXT_LIMITS["NguoiXuLy"]),
        "ThoiDiemXuLy": portal_date(step.get("at")),
        "NoiDungXuLy": cut(step.get("note"), TEXT_LIMITS["NoiDungXuLy"]),
        "TrangThai": str(step.get("to_status") or ""),
        "NgayKetThucTheoQuyDinh": portal_date(step.get("due_at")),
        "TrangThaiHoSo": str(snapshot.get("status") or ""),
    }


def to_portal(kind: str, payload: dict[str, Any], mend: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """The portal service and record for an outbox event; an event the portal cannot take raises InvalidInput.

    ``mend`` holds an administrator's corrections of the dossier's identifiers (:data:`MENDABLE_FIELDS`).
    """
    snapshot = payload.get("dossier")
    if not isinstance(snapshot, dict):
        raise InvalidInput(f"outbox event of kind {kind!r} has no dossier snapshot")
    if kind == "dossier":
        service, record = SERVICE_DOSSIER, dossier_record(snapshot)
    elif kind == "step":
        step = payload.get("step")
        if not isinstance(step, dict):
            raise InvalidInput(f"step event of dossier {snapshot.get('code')!r} has no step")
        service, record = SERVICE_STEP, step_record(snapshot, step)
    else:
        raise InvalidInput(f"outbox event kind {kind!r} is unknown (expected 'dossier' or 'step')")
    for name, value in (mend or {}).items():
        if name in MENDABLE_FIELDS and (name in record or service == SERVICE_DOSSIER):
            record[name] = value
    check_dossier_code(str(record["MaHoSo"]))
    return service, record


def missing_fields(service: str, record: dict[str, Any]) -> list[str]:
    """Required fields that are empty in ``record`` (what the portal would reject it for)."""
    required = REQUIRED_DOSSIER_FIELDS if service == SERVICE_DOSSIER else REQUIRED_STEP_FIELDS
    return [name for name in required if not record.get(name)]


__all__ = [
    "DOSSIER_CODE_PATTERN",
    "LOAI_DINH_DANH",
    "MENDABLE_FIELDS",
    "PORTAL_DATE_FORMAT",
    "SERVICE_DOSSIER",
    "SERVICE_LOOKUP",
    "SERVICE_PROCEDURES",
    "SERVICE_STEP",
    "TEXT_LIMITS",
    "check_dossier_code",
    "cut",
    "dossier_record",
    "identity_fields",
    "missing_fields",
    "parse_portal_date",
    "portal_date",
    "step_record",
    "to_portal",
]
