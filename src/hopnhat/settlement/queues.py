"""An officer's work queues: what is theirs to do today, counted and filtered, narrowed to what they may see.

Each queue is a condition on the store; :func:`queue_page` gives one queue's page of rows with the counts of all
of them, :func:`holders` the center leader's view of who holds what. A search by applicant name or ID number looks
only at the officer's own centers and is audited (it reads personal data). Nothing here commits."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.errors import Forbidden, InvalidInput
from hopnhat.identity import audit
from hopnhat.identity.principal import DossierScope, Principal
from hopnhat.identity.roles import Permission, Role
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.settlement.repository import OPEN_STATUSES
from hopnhat.store.models import Dossier, Status

PAGE_SIZE = 50


class Queue(StrEnum):
    TODAY = "today"
    """Received today (Vietnam day) at or for my centers."""
    MINE = "mine"
    """What I hold (handed to me)."""
    SUPPLEMENT = "supplement"
    """Waiting for the applicant's supplement (the clock stands)."""
    DUE_SOON = "due_soon"
    """Not late yet, due within the next working hours."""
    OVERDUE = "overdue"
    READY = "ready"
    """Finished: the result waits to be returned."""
    INHERITED = "inherited"
    """Open dossiers brought over from the former systems, overdue ones first."""
    FLAGGED = "flagged"
    """Flagged for review: among them, those changed in the former system after hopnhat took them over."""
    ALL = "all"


@dataclass(frozen=True)
class Filters:
    procedure: str | None = None
    channel: int | None = None
    status: int | None = None
    start: date | None = None
    end: date | None = None
    code: str | None = None
    """A dossier code or its beginning, in any letter case."""


@dataclass(frozen=True)
class Row:
    code: str
    procedure_code: str
    procedure_name: str | None
    applicant: str | None
    status: int
    channel: int
    received_at: datetime
    due_at: datetime | None
    overdue: bool
    paused: bool
    holder: str | None
    origin: str
    needs_review: bool
    citizen_id: str | None
    """For the audit of the list (the page does not show it)."""


@dataclass
class QueuePage:
    queue: Queue
    rows: list[Row]
    counts: dict[Queue, int]
    page: int
    pages: int
    total: int
    holders: list[tuple[str, int]] = field(default_factory=list)


def scope_clause(scope: DossierScope) -> ColumnElement[bool] | None:
    """The dossiers a scope sees, as a condition (None: all of them)."""
    if scope.everything:
        return None
    seen: list[ColumnElement[bool]] = [
        Dossier.center_code.in_(sorted(scope.centers)),
        Dossier.received_center_code.in_(sorted(scope.centers)),
    ]
    if scope.units:
        seen.append(Dossier.holder_unit_code.in_(sorted(scope.units)))
    if scope.username:
        seen.append(Dossier.holder_username == scope.username)
    return or_(*seen)


def _open() -> ColumnElement[bool]:
    return Dossier.status.in_(OPEN_STATUSES)


def queue_clause(
    queue: Queue, principal: Principal, now: datetime, calendar: WorkCalendar, hours: float
) -> ColumnElement[bool] | None:
    if queue is Queue.TODAY:
        start = datetime.combine(now.astimezone(VN_TZ).date(), time(0), VN_TZ)
        return Dossier.received_at >= start
    if queue is Queue.MINE:
        return Dossier.holder_username == (principal.username or "")
    if queue is Queue.SUPPLEMENT:
        return Dossier.status == int(Status.SUPPLEMENT_REQUESTED)
    if queue is Queue.DUE_SOON:
        limit = calendar.add_working_hours(now, hours)
        return and_(_open(), Dossier.clock_paused_at.is_(None), Dossier.due_at >= now, Dossier.due_at < limit)
    if queue is Queue.OVERDUE:
        return and_(_open(), Dossier.clock_paused_at.is_(None), Dossier.due_at < now)
    if queue is Queue.READY:
        return Dossier.status == int(Status.FINISHED)
    if queue is Queue.INHERITED:
        return and_(_open(), Dossier.origin == "migrated")
    if queue is Queue.FLAGGED:
        return Dossier.needs_review.is_(True)
    return None


def _filters(f: Filters) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.procedure:
        out.append(Dossier.procedure_code == f.procedure)
    if f.channel:
        out.append(Dossier.channel == f.channel)
    if f.status:
        out.append(Dossier.status == f.status)
    if f.start:
        out.append(Dossier.received_at >= datetime.combine(f.start, time(0), VN_TZ))
    if f.end:
        out.append(Dossier.received_at < datetime.combine(f.end + timedelta(days=1), time(0), VN_TZ))
    if f.code:
        # Codes are issued in capitals: the prefix in capitals keeps the unique index usable.
        out.append(Dossier.code.startswith(f.code.strip().upper(), autoescape=True))
    return out


def _where(*parts: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [p for p in parts if p is not None]


def queue_page(
    session: Session,
    principal: Principal,
    queue: Queue,
    *,
    now: datetime,
    calendar: WorkCalendar,
    filters: Filters = Filters(),
    page: int = 1,
    hours: float = 8.0,
    people: ColumnElement[bool] | None = None,
) -> QueuePage:
    """One page of a queue, with every queue's count under the same filters and scope."""
    principal.require(Permission.DOSSIER_READ)
    scope = scope_clause(principal.dossier_scope)
    common = _where(scope, people, *_filters(filters))
    # Every queue's count in one pass over the officer's dossiers (eight counts were eight scans of the scope).
    conditions = [queue_clause(q, principal, now, calendar, hours) for q in Queue]
    columns = [
        func.count(Dossier.id) if c is None else func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in conditions
    ]
    found = session.execute(select(*columns).where(*common)).one()
    counts = {q: int(n or 0) for q, n in zip(Queue, found, strict=True)}
    total = counts[queue]
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    # Orders by a column with no index of its own (due date, finish time) make the database find the officer's
    # dossiers first and sort those few; "the latest received" may walk the receipt index instead, which is
    # quick only for queues most of whose dossiers match (a status queue took 1-2 s that way at 1M dossiers).
    order: list[Any]
    if queue is Queue.READY:
        order = [Dossier.finished_at, Dossier.code]
    elif queue in (Queue.TODAY, Queue.ALL):
        order = [Dossier.received_at.desc(), Dossier.code]
    else:
        order = [Dossier.due_at.is_(None), Dossier.due_at, Dossier.code]
    stmt = (
        select(Dossier)
        .where(*common, *_where(queue_clause(queue, principal, now, calendar, hours)))
        .order_by(*order)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    rows = [_row(d, now) for d in session.scalars(stmt)]
    out = QueuePage(queue, rows, counts, page, pages, total)
    if Role.CENTER_LEADER in principal.roles or principal.dossier_scope.everything:
        out.holders = holders(session, principal)
    return out


def _row(d: Dossier, now: datetime) -> Row:
    is_open = d.status in OPEN_STATUSES
    return Row(
        code=d.code,
        procedure_code=d.procedure_code,
        procedure_name=d.procedure_name,
        applicant=d.applicant_name,
        status=d.status,
        channel=d.channel,
        received_at=d.received_at,
        due_at=d.due_at,
        overdue=bool(is_open and d.clock_paused_at is None and d.due_at is not None and d.due_at < now),
        paused=d.clock_paused_at is not None,
        holder=d.holder_username or d.holder_unit_code,
        origin=d.origin,
        needs_review=d.needs_review,
        citizen_id=d.applicant_id_number,
    )


def holders(session: Session, principal: Principal) -> list[tuple[str, int]]:
    """Who holds how many open dossiers of the leader's centers: officers and units; ``—`` is the center itself."""
    scope = scope_clause(principal.dossier_scope)
    who = func.coalesce(Dossier.holder_username, Dossier.holder_unit_code, "—")
    stmt = (
        select(who, func.count(Dossier.id))
        .where(*_where(scope, _open()))
        .group_by(who)
        .order_by(func.count(Dossier.id).desc(), who)
    )
    return [(str(name), int(n)) for name, n in session.execute(stmt)]


def people_search(session: Session, principal: Principal, text: str) -> ColumnElement[bool]:
    """A condition finding dossiers by the applicant's name or ID number, among the officer's own centers only;
    the search itself is recorded in the audit log (with the ID number as the subject, when it is one)."""
    principal.require(Permission.DOSSIER_READ)
    query = unicodedata.normalize("NFC", text.strip())[:200]
    if len(query) < 3:
        raise InvalidInput("a search by name or ID number needs at least 3 characters")
    if not principal.centers:
        raise Forbidden(f"{principal.username} belongs to no service center: a name search covers one's own center")
    own = or_(
        Dossier.center_code.in_(sorted(principal.centers)),
        Dossier.received_center_code.in_(sorted(principal.centers)),
    )
    is_number = query.replace(" ", "").isdigit()
    audit.record(
        session,
        principal,
        "dossier.search",
        object_type="dossier",
        changes={"by": [None, "id_number" if is_number else "name"]},
        citizen_id=query.replace(" ", "") if is_number else None,
    )
    if is_number:
        return and_(own, Dossier.applicant_id_number == query.replace(" ", ""))
    like = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return and_(own, Dossier.applicant_name.ilike(f"%{like}%", escape="\\"))


__all__ = [
    "PAGE_SIZE",
    "Filters",
    "Queue",
    "QueuePage",
    "Row",
    "holders",
    "people_search",
    "queue_page",
    "scope_clause",
]
