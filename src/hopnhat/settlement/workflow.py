"""The dossier lifecycle on the national status codes: allowed transitions as data, one guarded transition.

Side effects of a transition (clock pause/restart, due-date change, processing step, outbox event) happen after the
guard, in the caller's transaction; nothing here commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput, InvalidTransition
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.store.models import Dossier, ProcessingStep, Status
from hopnhat.store.outbox import enqueue

S = Status

ALLOWED: dict[Status, frozenset[Status]] = {
    S.SUBMITTED: frozenset({S.RECEIVED, S.REFUSED, S.WITHDRAWN}),
    S.RECEIVED: frozenset({S.IN_PROCESS, S.SUPPLEMENT_REQUESTED, S.REFUSED, S.WITHDRAWN}),
    S.IN_PROCESS: frozenset(
        {S.SUPPLEMENT_REQUESTED, S.FEES_DUE, S.FINISHED, S.REFUSED, S.WITHDRAWN, S.STOPPED, S.IN_PROCESS}
    ),
    S.SUPPLEMENT_REQUESTED: frozenset({S.IN_PROCESS, S.WITHDRAWN, S.STOPPED, S.REFUSED}),
    S.FEES_DUE: frozenset({S.IN_PROCESS, S.FINISHED, S.WITHDRAWN, S.STOPPED}),
    S.FINISHED: frozenset({S.RETURNED}),
    S.REFUSED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.STOPPED: frozenset(),
    S.RETURNED: frozenset(),
}
"""From status -> statuses it may move to. ``IN_PROCESS -> IN_PROCESS`` is an extension (gia hạn): it needs a new
due date and an apology slip reference. Refused (3), withdrawn (7), stopped (8) and returned (10) are final."""


def parse_status(value: str | int) -> Status:
    """A status by number (``5``) or name (``supplement_requested``)."""
    text = str(value).strip()
    try:
        return Status(int(text)) if text.isdigit() else Status[text.upper()]
    except (KeyError, ValueError):
        names = ", ".join(f"{s.value} {s.name.lower()}" for s in Status)
        raise InvalidInput(f"status {text!r} is not one of: {names}") from None


def transition(
    session: Session,
    dossier: Dossier,
    to: Status,
    *,
    actor: str,
    at: datetime,
    calendar: WorkCalendar,
    note: str | None = None,
    new_due_at: datetime | None = None,
) -> ProcessingStep:
    """Move ``dossier`` to ``to`` if the workflow allows it; record the step and the outbox event."""
    current = Status(dossier.status)
    if to not in ALLOWED[current]:
        raise InvalidTransition(
            f"dossier {dossier.code}: cannot go from {current.value} ({current.name.lower()}) "
            f"to {to.value} ({to.name.lower()})"
        )
    if not actor.strip():
        raise InvalidInput(f"dossier {dossier.code}: the officer making the change (actor) is required")
    if current == to:
        # An extension: the law requires the apology and extension slip, so the note carries its reference.
        if new_due_at is None or not note:
            raise InvalidInput(
                f"dossier {dossier.code}: an extension needs --due (new due date) and the apology slip note"
            )
        if dossier.due_at is not None and new_due_at <= dossier.due_at:
            raise InvalidInput(f"dossier {dossier.code}: the extended due date must be after {dossier.due_at}")
        dossier.due_at = new_due_at
    if to == S.SUPPLEMENT_REQUESTED:
        dossier.clock_paused_at = at
    elif current == S.SUPPLEMENT_REQUESTED and dossier.clock_paused_at is not None:
        # The clock restarts: push the due date by the working time that passed while it was stopped.
        paused = calendar.working_hours_between(dossier.clock_paused_at, at)
        if dossier.due_at is not None and paused > 0:
            dossier.due_at = calendar.add_working_hours(dossier.due_at, paused)
        dossier.clock_paused_at = None
    if to in (S.FINISHED,):
        dossier.finished_at = at
    if to == S.RETURNED:
        dossier.returned_at = at
        if dossier.finished_at is None:
            dossier.finished_at = at
    dossier.status = int(to)
    step = ProcessingStep(
        dossier=dossier,
        seq=len(dossier.steps) + 1,
        at=at,
        actor=actor,
        from_status=int(current),
        to_status=int(to),
        note=note,
        due_at=dossier.due_at,
    )
    session.add(step)
    session.flush()
    enqueue(session, dossier, "step", step)
    return step


__all__ = ["ALLOWED", "parse_status", "transition"]
