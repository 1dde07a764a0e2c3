"""Edits of the operator's calendar table, and the due dates they would move.

A due date already given is never changed by a later edit of the calendar. The edit lists the open dossiers whose
due date it would move (a :class:`~hopnhat.settlement.models.DueReview` each, kept until decided) and an officer of
the dossier's center, or an administrator, decides: keep the due date given, or move it to what the new calendar
gives. Nothing here commits: the CLI command or the request owns the transaction.

How the new due date is counted: the dossier keeps the working time it was given (its time limit, an extension
included, the supplement pauses left out), counted on the calendar in force when the edit was made; the same hours
are counted again on the new calendar from the receipt, in office hours, skipping the same pauses. A clock stopped
now is not counted yet, as today: the restart pushes the due date in force by the working time the pause took."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.settlement import repository as repo
from hopnhat.settlement.calendar import (
    OVERRIDE_KINDS,
    WorkCalendar,
    bundled_days,
    bundled_legal_basis,
    library_holiday,
)
from hopnhat.settlement.models import CalendarDay, DueReview, ReviewState
from hopnhat.settlement.schemas import CalendarDayRow, CalendarEditOut, DueReviewOut
from hopnhat.settlement.service import get_dossier, load_calendar, nfc, sees, set_calendar_day
from hopnhat.store.models import Dossier, ProcessingStep, Status
from hopnhat.store.outbox import enqueue

log = logging.getLogger(__name__)

MAX_LISTED = 5000
"""Open dossiers one edit examines, and reviews one decide-all takes: far above a city's dossiers across one day,
and a bound on one request's work."""

LEGAL_BASIS_MAX = 300
"""The legal basis of an operator's row (the column's size)."""

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
"""The days an operator may edit: a typing error beyond them would only make the search for dossiers overflow."""

_SAME = timedelta(seconds=1)
"""Two due dates closer than this are the same (working hours are floats)."""


class Decision(StrEnum):
    """What to do with a listed due date."""

    MOVE = "move"
    KEEP = "keep"


def culture_day(year: int) -> date:
    """Vietnam Culture Day (Ngày Văn hoá Việt Nam, 24 November): a library holiday from 2026 that the law has not yet
    made a day off; shown unconfirmed until the operator records a decision."""
    return date(year, 11, 24)


# --- the table ----------------------------------------------------------------------------------------------------


def calendar_table(session: Session, years: tuple[int, ...] = ()) -> list[CalendarDayRow]:
    """The days that differ from the weekday rule, by where that comes from: the operator's rows, the bundled days
    they do not overrule, and 24 November when the library makes it a day off and the operator has not decided."""
    operator = {d.day: d for d in repo.calendar_days(session)}
    rows = [CalendarDayRow(day=d, kind=r.kind, source="operator", legal_basis=r.note) for d, r in operator.items()]
    basis = bundled_legal_basis()
    rows += [
        CalendarDayRow(
            day=d, kind="work" if k == "working_day" else "off", source="bundled", legal_basis=basis.get(d) or None
        )
        for d, k in bundled_days().items()
        if d not in operator
    ]
    for year in sorted({d.year for d in bundled_days()} | {date.today().year} | set(years)):
        day = culture_day(year)
        if day not in operator and day not in bundled_days() and day.weekday() < 5 and library_holiday(day):
            rows.append(CalendarDayRow(day=day, kind="off", source="library", unconfirmed=True))
    return sorted(rows, key=lambda r: r.day)


def edit_day(
    session: Session,
    day: date,
    kind: str | None,
    legal_basis: str | None,
    *,
    principal: Principal | None,
    require_basis: bool = True,
) -> CalendarEditOut:
    """Record ``kind`` for ``day`` in the operator's table (``None`` removes the operator's row), audited, and list
    the open dossiers whose due date this would move, without moving them."""
    if principal is not None:
        principal.require(Permission.CALENDAR)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"calendar day {day}: outside {FIRST_DAY.year}-{LAST_DAY.year}")
    basis = nfc(legal_basis) or None
    if kind is not None and kind not in OVERRIDE_KINDS:
        raise InvalidInput(f"calendar day {day}: kind {kind[:20]!r} is not one of {', '.join(OVERRIDE_KINDS)}")
    if kind is not None and require_basis and not basis:
        raise InvalidInput(f"calendar day {day}: the legal basis (căn cứ pháp lý) is required")
    if basis is not None and len(basis) > LEGAL_BASIS_MAX:
        raise InvalidInput(f"calendar day {day}: the legal basis is longer than {LEGAL_BASIS_MAX} characters")
    before = load_calendar(session)
    row = session.get(CalendarDay, day)
    previous = {"kind": row.kind, "legal_basis": row.note} if row is not None else {"kind": None, "legal_basis": None}
    if kind is None:
        if row is None:
            raise NotFound(f"calendar day {day}: the operator's table has no row for it")
        session.delete(row)
        session.flush()
    else:
        set_calendar_day(session, day, kind, basis)
    audit.record(
        session,
        principal,
        "calendar.set_day" if kind is not None else "calendar.remove_day",
        object_type="calendar_day",
        object_id=day.isoformat(),
        changes=audit.diff(previous, {"kind": kind, "legal_basis": basis if kind is not None else None})
        or {"kind": [previous["kind"], kind]},
    )
    after = load_calendar(session)
    reviews = _review_after_edit(session, day, before, after)
    log.info("calendar %s: %s -> %s; %d due dates listed", day, previous["kind"], kind, len(reviews))
    return CalendarEditOut(day=day, kind=kind, previous=previous["kind"], reviews=reviews)


# --- counting a due date again --------------------------------------------------------------------------------------


def _pauses(dossier: Dossier) -> list[tuple[datetime, datetime]]:
    """The finished supplement pauses of the dossier, from its steps. One still running is left out: the due date in
    force does not count it yet."""
    out: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    for step in dossier.steps:
        if step.to_status == Status.SUPPLEMENT_REQUESTED and step.from_status != Status.SUPPLEMENT_REQUESTED:
            start = step.at
        elif step.from_status == Status.SUPPLEMENT_REQUESTED and start is not None:
            out.append((start, step.at))
            start = None
    return out


def budget_hours(calendar: WorkCalendar, dossier: Dossier) -> float:
    """The dossier's working time from receipt to its due date on ``calendar``, pauses left out."""
    assert dossier.due_at is not None
    due = dossier.due_at
    total = calendar.working_hours_between(dossier.received_at, due)
    for begin, end in _pauses(dossier):
        total -= calendar.working_hours_between(max(begin, dossier.received_at), min(end, due))
    return max(total, 0.0)


def due_for_budget(calendar: WorkCalendar, dossier: Dossier, hours: float) -> datetime:
    """The instant ``hours`` working hours after receipt on ``calendar``, the clock stopped during the pauses."""
    cursor, remaining = dossier.received_at, hours
    for begin, end in _pauses(dossier):
        if end <= cursor:
            continue
        if begin > cursor:
            available = calendar.working_hours_between(cursor, begin)
            if remaining <= available:
                break
            remaining -= available
        cursor = max(cursor, end)
    due = calendar.add_working_hours(cursor, remaining)
    return (due + timedelta(microseconds=500_000)).replace(microsecond=0).astimezone(UTC)


def _review_after_edit(session: Session, day: date, before: WorkCalendar, after: WorkCalendar) -> list[DueReviewOut]:
    start = datetime.combine(day, time(0), VN_TZ)
    out: list[DueReviewOut] = []
    for dossier in repo.open_dossier_rows_spanning(session, start, start + timedelta(days=1), MAX_LISTED):
        assert dossier.due_at is not None
        review = repo.pending_review(session, dossier.id)
        if review is not None and abs(review.given_due_at - dossier.due_at) >= _SAME:
            # The due date changed since it was listed (an extension, a restarted clock): that listing is over.
            review.state = ReviewState.SUPERSEDED
            review = None
        if review is None:
            hours = budget_hours(before, dossier)
            if abs(due_for_budget(before, dossier, hours) - due_for_budget(after, dossier, hours)) < _SAME:
                continue  # this edit does not move it
            review = DueReview(dossier_id=dossier.id, budget_hours=hours, given_due_at=dossier.due_at)
            session.add(review)
        review.day = day
        review.proposed_due_at = due_for_budget(after, dossier, review.budget_hours)
        if abs(review.proposed_due_at - review.given_due_at) < _SAME:
            session.delete(review)  # a later edit brought the calendar back: nothing left to decide
            continue
        session.flush()
        out.append(_out(review, dossier))
    return out


# --- deciding -------------------------------------------------------------------------------------------------------


def _out(review: DueReview, dossier: Dossier) -> DueReviewOut:
    return DueReviewOut(
        code=dossier.code,
        center_code=dossier.center_code,
        day=review.day,
        given_due_at=review.given_due_at,
        proposed_due_at=review.proposed_due_at,
        state=review.state,
        decided_by=review.decided_by,
        decided_at=review.decided_at,
    )


def reviews(
    session: Session, principal: Principal, *, pending_only: bool = True, limit: int = MAX_LISTED
) -> list[DueReviewOut]:
    """The listed due dates among the dossiers the principal sees: waiting for a decision, or all of them."""
    principal.require(Permission.DUE_DECISIONS)
    states = (ReviewState.PENDING,) if pending_only else tuple(ReviewState)
    return [
        _out(r, d)
        for r, d in repo.pending_reviews(session, limit, states)
        if sees(principal, d) and (not pending_only or _open(d))
    ]


def _open(dossier: Dossier) -> bool:
    # A dossier closed since it was listed has no due date left to decide; it is not shown nor decided.
    return int(dossier.status) in repo.OPEN_STATUSES


def decide(
    session: Session, code: str, decision: Decision, *, principal: Principal, at: datetime | None = None
) -> DueReviewOut:
    """Keep or move the listed due date of dossier ``code``; audited, and a move is a step of the dossier (and an
    event for the portal). A dossier closed, or whose due date changed since it was listed, is not moved: its
    listing is superseded."""
    principal.require(Permission.DUE_DECISIONS)
    dossier = get_dossier(session, code, principal)
    review = repo.pending_review(session, dossier.id)
    if review is None:
        raise NotFound(f"dossier {dossier.code}: no due date of it waits for a decision")
    return _decide(session, review, dossier, decision, principal, at or datetime.now(UTC))


def decide_all(
    session: Session, decision: Decision, *, principal: Principal, at: datetime | None = None
) -> list[DueReviewOut]:
    """:func:`decide` for every due date waiting among the dossiers the principal sees."""
    principal.require(Permission.DUE_DECISIONS)
    when = at or datetime.now(UTC)
    return [
        _decide(session, r, d, decision, principal, when)
        for r, d in repo.pending_reviews(session, MAX_LISTED)
        if sees(principal, d) and _open(d)
    ]


def _decide(
    session: Session, review: DueReview, dossier: Dossier, decision: Decision, principal: Principal, at: datetime
) -> DueReviewOut:
    open_now = _open(dossier)
    stale = dossier.due_at is None or abs(dossier.due_at - review.given_due_at) >= _SAME
    changes: dict[str, object]
    if not open_now or stale:
        review.state = ReviewState.SUPERSEDED
        changes = {"decision": [None, f"{decision.value} (superseded: {'closed' if not open_now else 'due changed'})"]}
    elif decision is Decision.MOVE:
        review.state = ReviewState.MOVED
        given, dossier.due_at = dossier.due_at, review.proposed_due_at
        step = ProcessingStep(
            dossier=dossier,
            seq=len(dossier.steps) + 1,
            at=at,
            actor=principal.username or "cli",
            from_status=dossier.status,
            to_status=dossier.status,
            note=(
                f"due date moved to the calendar edited on {review.day.isoformat()}: "
                f"{_vn(review.given_due_at)} -> {_vn(review.proposed_due_at)} (Vietnam time)"
            ),
            due_at=dossier.due_at,
        )
        session.add(step)
        session.flush()
        enqueue(session, dossier, "step", step)
        changes = {"decision": [None, "move"], "due_at": [given, dossier.due_at]}
    else:
        review.state = ReviewState.KEPT
        changes = {"decision": [None, "keep"]}
    review.decided_at, review.decided_by = at, (principal.username or "cli")[:64]
    audit.record(
        session,
        principal,
        "dossier.due_decision",
        object_type="dossier",
        object_id=dossier.code,
        changes=changes,
        citizen_id=dossier.applicant_id_number,
    )
    session.flush()
    return _out(review, dossier)


def _vn(value: datetime) -> str:
    return value.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")


__all__ = [
    "LEGAL_BASIS_MAX",
    "MAX_LISTED",
    "Decision",
    "budget_hours",
    "calendar_table",
    "culture_day",
    "decide",
    "decide_all",
    "due_for_budget",
    "edit_day",
    "reviews",
]
