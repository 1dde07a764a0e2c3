"""From an outbox event's neutral snapshot to the portal's records.

``kind == "dossier"`` becomes a ``DongBoHoSoMC`` record (create/update the dossier), ``kind == "step"`` a
``CapNhatTienDoHoSoMC`` record (one processing step). Dates go out as ``yyyyMMddHHmmss`` in Vietnam time, the way
provincial systems send them; missing optional dates go out as empty strings.
"""

from __future__ import annotations

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


def dossier_record(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The ``DongBoHoSoMC`` record of a dossier snapshot (see :func:`hopnhat.store.outbox.dossier_snapshot`)."""
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
    }


def step_record(snapshot: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """The ``CapNhatTienDoHoSoMC`` record of one processing step of the dossier in ``snapshot``."""
    return {
        "MaHoSo": snapshot.get("code") or "",
        "NguoiXuLy": step.get("actor") or "",
        "ThoiDiemXuLy": portal_date(step.get("at")),
        "NoiDungXuLy": step.get("note") or "",
        "TrangThai": str(step.get("to_status") or ""),
        "NgayKetThucTheoQuyDinh": portal_date(step.get("due_at")),
        "TrangThaiHoSo": str(snapshot.get("status") or ""),
    }


def to_portal(kind: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The portal service and record for an outbox event; an event the portal cannot take raises InvalidInput."""
    snapshot = payload.get("dossier")
    if not isinstance(snapshot, dict):
        raise InvalidInput(f"outbox event of kind {kind!r} has no dossier snapshot")
    if kind == "dossier":
        return SERVICE_DOSSIER, dossier_record(snapshot)
    if kind == "step":
        step = payload.get("step")
        if not isinstance(step, dict):
            raise InvalidInput(f"step event of dossier {snapshot.get('code')!r} has no step")
        return SERVICE_STEP, step_record(snapshot, step)
    raise InvalidInput(f"outbox event kind {kind!r} is unknown (expected 'dossier' or 'step')")


def missing_fields(service: str, record: dict[str, Any]) -> list[str]:
    """Required fields that are empty in ``record`` (what the portal would reject it for)."""
    required = REQUIRED_DOSSIER_FIELDS if service == SERVICE_DOSSIER else REQUIRED_STEP_FIELDS
    return [name for name in required if not record.get(name)]


__all__ = [
    "PORTAL_DATE_FORMAT",
    "SERVICE_DOSSIER",
    "SERVICE_LOOKUP",
    "SERVICE_PROCEDURES",
    "SERVICE_STEP",
    "dossier_record",
    "missing_fields",
    "parse_portal_date",
    "portal_date",
    "step_record",
    "to_portal",
]
