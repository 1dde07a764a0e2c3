"""Decision 766 indicators as the national portal computes them from the synced data (DOMAIN.md, "Decision 766 as the
portal computes it": read from a published description of its formulas, not an official specification).

For a period (dossiers received in it) and per center (the center handling the dossier) and for the city:

- **on time**: of the dossiers finished, those finished on or before their due date (``NgayKetThucXuLy <=
  NgayHenTra``); a dossier with **more than one** supplement request counts as late whatever its dates;
- **online share**: dossiers submitted online (``KenhThucHien`` 2);
- **digitisation**: dossiers with at least one digitised component (``HoSoCoThanhPhanSoHoa``);
- **online payment**: of the dossiers with a fee, those paid online (``DuocThanhToanTrucTuyen``);
- **VNeID sign-in**: of the online dossiers, those submitted by an account verified with VNeID;
- **synced share**: dossiers the portal holds (every outbox event delivered) over the dossiers hopnhat must push
  (native ones, and inherited ones it owns). The portal divides by the larger of the national reporting system's
  count and its own; the national count cannot be reached from here, so the local count stands in: the figure
  is marked unconfirmed.

Every indicator carries ``confirmed``: False where the rule is read from a description rather than a specification,
or where a count that the portal uses cannot be had here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from hopnhat.portal import repository as repo
from hopnhat.store.models import Channel, Dossier, OutboxEvent, ProcessingStep, Status

CITY = "*"
"""The key of the whole city's row."""

INDICATORS = ("on_time", "online", "digitised", "paid_online", "vneid", "synced")

NOTES = {
    "on_time": "finished on or before the due date; more than one supplement request counts as late "
    "(from a published description of the portal's formula, unconfirmed)",
    "online": "submitted online (KenhThucHien 2)",
    "digitised": "at least one digitised component (HoSoCoThanhPhanSoHoa)",
    "paid_online": "of the dossiers with a fee, paid online (DuocThanhToanTrucTuyen)",
    "vneid": "of the online dossiers, submitted with a VNeID-verified account (TaiKhoanDuocXacThucVoiVNeID)",
    "synced": "held by the portal over the local count: the national reporting system's count cannot be reached "
    "from here (unconfirmed)",
}
CONFIRMED = {"on_time": False, "online": True, "digitised": True, "paid_online": True, "vneid": True, "synced": False}


@dataclass
class Share:
    numerator: int = 0
    denominator: int = 0

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.numerator / self.denominator, 1) if self.denominator else None


@dataclass
class CenterIndicators:
    center: str
    received: int = 0
    finished: int = 0
    late_by_supplements: int = 0
    """Finished in time by their dates, yet late for having more than one supplement request."""
    shares: dict[str, Share] = field(default_factory=lambda: {name: Share() for name in INDICATORS})

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "center": self.center,
            "received": self.received,
            "finished": self.finished,
            "late_by_supplements": self.late_by_supplements,
        }
        for name, share in self.shares.items():
            out[f"{name}_count"] = share.numerator
            out[f"{name}_of"] = share.denominator
            out[f"{name}_percent"] = share.percent
        return out


COLUMNS = (
    "center",
    "received",
    "finished",
    "late_by_supplements",
    *(f"{name}_{part}" for name in INDICATORS for part in ("count", "of", "percent")),
)


def on_time(finished_at: datetime | None, due_at: datetime | None, supplement_requests: int) -> bool | None:
    """The portal's rule: None while unfinished; late with more than one supplement request; else finished <= due.

    A dossier without a due date (a procedure answered on the spot) is on time once finished."""
    if finished_at is None:
        return None
    if supplement_requests > 1:
        return False
    return due_at is None or finished_at <= due_at


def _supplements(extra: dict[str, Any] | None, steps: int) -> int:
    listed = (extra or {}).get("supplements")
    return max(steps, len(listed) if isinstance(listed, list) else 0)


def _has_fee(extra: dict[str, Any] | None, paid_online: bool) -> bool:
    fees = (extra or {}).get("fees")
    return paid_online or (isinstance(fees, list) and len(fees) > 0)


def compute(session: Session, start: datetime, end: datetime, center: str | None = None) -> list[CenterIndicators]:
    """The indicators of the dossiers received in [start, end), one row per center, then the city (:data:`CITY`)."""
    supplement_steps = (
        select(ProcessingStep.dossier_id, func.count().label("n"))
        .where(ProcessingStep.to_status == Status.SUPPLEMENT_REQUESTED)
        .group_by(ProcessingStep.dossier_id)
        .subquery()
    )
    undelivered = (
        select(OutboxEvent.dossier_code).where(OutboxEvent.state.not_in(repo.DONE), repo.PORTAL).distinct().subquery()
    )
    delivered = (
        select(OutboxEvent.dossier_code).where(OutboxEvent.state == repo.DELIVERED, repo.PORTAL).distinct().subquery()
    )
    query = (
        select(
            Dossier.center_code,
            Dossier.finished_at,
            Dossier.due_at,
            Dossier.channel,
            Dossier.digitised_documents,
            Dossier.paid_online,
            Dossier.vneid_signin,
            Dossier.extra,
            func.coalesce(supplement_steps.c.n, 0),
            delivered.c.dossier_code.is_not(None),
            undelivered.c.dossier_code.is_not(None),
        )
        .outerjoin(supplement_steps, supplement_steps.c.dossier_id == Dossier.id)
        .outerjoin(delivered, delivered.c.dossier_code == Dossier.code)
        .outerjoin(undelivered, undelivered.c.dossier_code == Dossier.code)
        .where(Dossier.received_at >= start, Dossier.received_at < end)
    )
    if center:
        query = query.where(Dossier.center_code == center)
    # Inherited dossiers the former system still owns are pushed by it, not by hopnhat.
    ours = or_(Dossier.origin != "migrated", and_(Dossier.origin == "migrated", Dossier.owned_here_at.is_not(None)))
    rows: dict[str, CenterIndicators] = defaultdict(lambda: CenterIndicators(""))
    city = CenterIndicators(CITY)
    for r in session.execute(query.add_columns(ours)):
        (center_code, finished_at, due_at, channel, digitised, paid, vneid, extra, steps, held, pending,
         must_push) = r  # fmt: skip
        key = center_code or ""
        row = rows[key]
        row.center = key
        for target in (row, city):
            _count(target, finished_at, due_at, channel, digitised, paid, vneid, extra, int(steps), held, pending,
                   bool(must_push))  # fmt: skip
    return [*sorted(rows.values(), key=lambda r: r.center), city]


def _count(
    target: CenterIndicators,
    finished_at: datetime | None,
    due_at: datetime | None,
    channel: int,
    digitised: int | None,
    paid: bool,
    vneid: bool,
    extra: dict[str, Any] | None,
    supplement_steps: int,
    held: bool,
    pending: bool,
    must_push: bool,
) -> None:
    s = target.shares
    target.received += 1
    requests = _supplements(extra, supplement_steps)
    verdict = on_time(finished_at, due_at, requests)
    if verdict is not None:
        target.finished += 1
        s["on_time"].denominator += 1
        s["on_time"].numerator += int(verdict)
        if not verdict and requests > 1 and (due_at is None or finished_at is None or finished_at <= due_at):
            target.late_by_supplements += 1
    online = channel == Channel.ONLINE
    s["online"].denominator += 1
    s["online"].numerator += int(online)
    s["digitised"].denominator += 1
    s["digitised"].numerator += int((digitised or 0) > 0)
    if _has_fee(extra, bool(paid)):
        s["paid_online"].denominator += 1
        s["paid_online"].numerator += int(bool(paid))
    if online:
        s["vneid"].denominator += 1
        s["vneid"].numerator += int(bool(vneid))
    if must_push:
        s["synced"].denominator += 1
        s["synced"].numerator += int(bool(held) and not pending)


def rows(result: list[CenterIndicators]) -> list[dict[str, Any]]:
    return [r.row() for r in result]


def export(result: list[CenterIndicators], fmt: str) -> bytes:
    """CSV or XLSX through :mod:`hopnhat.files` (formula-like cells neutralised)."""
    from hopnhat.files import write_csv, write_xlsx

    data = rows(result)
    if fmt == "csv":
        return write_csv(data, COLUMNS).encode("utf-8-sig")
    if fmt == "xlsx":
        notes = [{"indicator": name, "confirmed": CONFIRMED[name], "rule": NOTES[name]} for name in INDICATORS]
        return write_xlsx({"766": (COLUMNS, data), "notes": (("indicator", "confirmed", "rule"), notes)})
    from hopnhat.errors import InvalidInput

    raise InvalidInput(f"format {fmt[:20]!r}: expected csv or xlsx")


__all__ = [
    "CITY",
    "COLUMNS",
    "CONFIRMED",
    "INDICATORS",
    "NOTES",
    "CenterIndicators",
    "Share",
    "compute",
    "export",
    "on_time",
    "rows",
]
