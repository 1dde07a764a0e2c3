"""The dossier lifecycle on the national status codes: what an officer may do to a dossier, as data, and one guarded
:func:`act` that does it.

:data:`ACTIONS` is the whole table: per action, the statuses it may start from, the status it leads to (or none:
the status stays, as for a hand-off) and what it needs (a reason, the items of a supplement, a new due date, a
holder). :data:`ALLOWED` (status -> statuses) is derived from it for the API and CLI that move by status.
Side effects (clock pause/restart, due-date change, holder, step, outbox event) happen after the guard, in the
caller's transaction; nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput, InvalidTransition
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.settlement.schemas import ActionIn
from hopnhat.store.models import Dossier, ProcessingStep, Status
from hopnhat.store.outbox import enqueue, enqueue_notices

S = Status


class Action(StrEnum):
    """What an officer does to a dossier (the verbs of the dossier page and of ``POST .../actions``)."""

    RECEIVE = "receive"
    """An online or postal submission accepted at the center (1 -> 2)."""
    START = "start"
    """The center handles the dossier itself (2 -> 4)."""
    HAND_OFF = "hand_off"
    """To a processing unit (department, agency) or an officer, with a note: they hold it from now."""
    HAND_BACK = "hand_back"
    """Back to the center from the unit or officer holding it, with a note (the status stays)."""
    REQUEST_SUPPLEMENT = "request_supplement"
    """Ask the applicant for the listed items: the clock stops (slip: supplement request)."""
    SUPPLEMENT_RECEIVED = "supplement_received"
    """The items came: the clock resumes and the due date moves by the working time it stood."""
    REQUEST_FEES = "request_fees"
    FEES_PAID = "fees_paid"
    EXTEND = "extend"
    """A new, later due date with the apology and extension letter (gia hạn): the status stays in process."""
    FINISH = "finish"
    RETURN_RESULT = "return_result"
    """The result handed to the applicant (to whom, how)."""
    REFUSE = "refuse"
    """With a reason, mandatory, that the applicant sees on the lookup (slip: refusal)."""
    WITHDRAW = "withdraw"
    """At the applicant's request."""
    STOP = "stop"
    """Processing stopped, with a reason (stop notice)."""


class Need(StrEnum):
    """What an action cannot be done without."""

    REASON = "reason"
    ITEMS = "items"
    NEW_DUE = "new_due_at"
    NOTE = "note"
    HOLDER = "holder"


@dataclass(frozen=True, slots=True)
class Rule:
    sources: frozenset[Status]
    target: Status | None
    """None: the status stays what it was."""
    needs: frozenset[Need] = frozenset()
    slip: str | None = None
    """The printed slip the rules give with this action (Circular 03/2025/TT-VPCP's forms), if any."""


_OPEN = frozenset({S.RECEIVED, S.IN_PROCESS, S.SUPPLEMENT_REQUESTED, S.FEES_DUE})
"""Statuses in which somebody holds the dossier and works on it."""

ACTIONS: dict[Action, Rule] = {
    Action.RECEIVE: Rule(frozenset({S.SUBMITTED}), S.RECEIVED, slip="receipt"),
    Action.START: Rule(frozenset({S.RECEIVED}), S.IN_PROCESS),
    Action.HAND_OFF: Rule(frozenset({S.RECEIVED, S.IN_PROCESS}), S.IN_PROCESS, frozenset({Need.HOLDER})),
    Action.HAND_BACK: Rule(_OPEN | {S.FINISHED}, None),
    Action.REQUEST_SUPPLEMENT: Rule(
        frozenset({S.RECEIVED, S.IN_PROCESS}), S.SUPPLEMENT_REQUESTED, frozenset({Need.ITEMS}), slip="supplement"
    ),
    Action.SUPPLEMENT_RECEIVED: Rule(frozenset({S.SUPPLEMENT_REQUESTED}), S.IN_PROCESS),
    Action.REQUEST_FEES: Rule(frozenset({S.IN_PROCESS}), S.FEES_DUE),
    Action.FEES_PAID: Rule(frozenset({S.FEES_DUE}), S.IN_PROCESS),
    Action.EXTEND: Rule(frozenset({S.IN_PROCESS}), S.IN_PROCESS, frozenset({Need.NEW_DUE, Need.NOTE}), slip="apology"),
    Action.FINISH: Rule(frozenset({S.IN_PROCESS, S.FEES_DUE}), S.FINISHED),
    Action.RETURN_RESULT: Rule(frozenset({S.FINISHED}), S.RETURNED, slip="returned"),
    Action.REFUSE: Rule(
        frozenset({S.SUBMITTED, S.RECEIVED, S.IN_PROCESS, S.SUPPLEMENT_REQUESTED}),
        S.REFUSED,
        frozenset({Need.REASON}),
        slip="refusal",
    ),
    Action.WITHDRAW: Rule(frozenset({S.SUBMITTED}) | _OPEN, S.WITHDRAWN),
    Action.STOP: Rule(
        frozenset({S.IN_PROCESS, S.SUPPLEMENT_REQUESTED, S.FEES_DUE}), S.STOPPED, frozenset({Need.REASON}), slip="stop"
    ),
}
"""The whole workflow. Refused (3), withdrawn (7), stopped (8) and returned (10) start no action: they are final."""

_BY_STATUS: dict[tuple[Status, Status], Action] = {}
for _action, _rule in ACTIONS.items():
    if _rule.target is None or _action is Action.HAND_OFF:
        continue  # a move that keeps the status, or needs a holder, is only reachable by its action
    for _source in _rule.sources:
        _BY_STATUS.setdefault((_source, _rule.target), _action)

ALLOWED: dict[Status, frozenset[Status]] = {
    status: frozenset(to for (frm, to) in _BY_STATUS if frm == status) for status in Status
}
"""From status -> statuses it may move to by status (API ``transitions``, CLI ``dossiers transition``).
``IN_PROCESS -> IN_PROCESS`` is an extension: it needs a new due date and the apology letter's reference."""

FINAL = frozenset(s for s in Status if not any(s in r.sources for r in ACTIONS.values()))


def parse_status(value: str | int) -> Status:
    """A status by number (``5``) or name (``supplement_requested``)."""
    text = str(value).strip()
    try:
        return Status(int(text)) if text.isdigit() else Status[text.upper()]
    except (KeyError, ValueError):
        names = ", ".join(f"{s.value} {s.name.lower()}" for s in Status)
        raise InvalidInput(f"status {text!r} is not one of: {names}") from None


def parse_action(value: str) -> Action:
    try:
        return Action(value.strip())
    except ValueError:
        raise InvalidInput(f"action {value!r} is not one of: {', '.join(a.value for a in Action)}") from None


def available(status: Status | int) -> list[Action]:
    """The actions a dossier in ``status`` allows, in the table's order."""
    return [a for a, r in ACTIONS.items() if Status(status) in r.sources]


def action_for(current: Status, to: Status) -> Action:
    """The action that moves ``current`` to ``to`` by status (an extension when both are in process)."""
    found = _BY_STATUS.get((current, to))
    if found is None:
        raise InvalidTransition(_cannot(current, to))
    return found


def _cannot(current: Status, to: Status | str) -> str:
    target = f"{to.value} ({to.name.lower()})" if isinstance(to, Status) else to
    return f"cannot go from {current.value} ({current.name.lower()}) to {target}"


def _items(data: ActionIn) -> list[str]:
    return [i.strip() for i in data.items if i.strip()]


def _check_needs(code: str, action: Action, rule: Rule, data: ActionIn, dossier: Dossier) -> None:
    if Need.REASON in rule.needs and not (data.reason or "").strip():
        raise InvalidInput(f"dossier {code}: {action.value} needs a reason (the applicant is told it)")
    if Need.ITEMS in rule.needs and not _items(data):
        raise InvalidInput(f"dossier {code}: a supplement request lists at least one item to bring")
    if Need.HOLDER in rule.needs and not (data.holder_unit or data.holder_username):
        raise InvalidInput(f"dossier {code}: a hand-off names the unit or the officer who will hold the dossier")
    if Need.NEW_DUE in rule.needs or Need.NOTE in rule.needs:
        if data.new_due_at is None or not (data.note or "").strip():
            raise InvalidInput(f"dossier {code}: an extension needs --due (new due date) and the apology slip note")
        if dossier.due_at is not None and data.new_due_at <= dossier.due_at:
            raise InvalidInput(f"dossier {code}: the extended due date must be after {dossier.due_at}")


def act(
    session: Session,
    dossier: Dossier,
    data: ActionIn,
    *,
    actor: str,
    at: datetime,
    calendar: WorkCalendar,
) -> ProcessingStep:
    """Do ``data.action`` to ``dossier`` if the workflow allows it; record the step and the outbox event."""
    action = parse_action(data.action)
    rule = ACTIONS[action]
    current = Status(dossier.status)
    if current not in rule.sources:
        raise InvalidTransition(f"dossier {dossier.code}: {action.value}: {_cannot(current, action.value)}")
    if not actor.strip():
        raise InvalidInput(f"dossier {dossier.code}: the officer making the change (actor) is required")
    _check_needs(dossier.code, action, rule, data, dossier)
    target = rule.target or current
    public: dict[str, Any] | None = None
    details: dict[str, Any] = {}
    if action is Action.EXTEND:
        details["previous_due_at"] = dossier.due_at.isoformat() if dossier.due_at else None
        dossier.due_at = data.new_due_at
    elif action is Action.HAND_OFF:
        dossier.holder_unit_code = data.holder_unit or None
        dossier.holder_username = data.holder_username or None
        details = {"holder_unit": dossier.holder_unit_code, "holder_username": dossier.holder_username}
    elif action is Action.HAND_BACK:
        details = {"from_unit": dossier.holder_unit_code, "from_username": dossier.holder_username}
        dossier.holder_unit_code = dossier.holder_username = None
    elif action is Action.REQUEST_SUPPLEMENT:
        dossier.clock_paused_at = at
        public = {"items": _items(data), "where": (data.where or "").strip() or None}
        extra = dict(dossier.extra or {})
        extra["supplements"] = [*extra.get("supplements", []), {"at": at.isoformat(), "items": _items(data)}]
        dossier.extra = extra
    elif action is Action.REFUSE:
        dossier.refused_at = at
        public = {"reason": (data.reason or "").strip()}
    elif action is Action.STOP:
        public = {"reason": (data.reason or "").strip()}
    elif action is Action.RETURN_RESULT:
        dossier.returned_at = at
        if dossier.finished_at is None:
            dossier.finished_at = at
        details = {"to": data.returned_to, "how": data.return_method}
    elif action is Action.FINISH:
        dossier.finished_at = at
    if current == S.SUPPLEMENT_REQUESTED and target != S.SUPPLEMENT_REQUESTED and dossier.clock_paused_at is not None:
        # The clock restarts: push the due date by the working time that passed while it was stopped.
        paused = calendar.working_hours_between(dossier.clock_paused_at, at)
        if dossier.due_at is not None and paused > 0:
            dossier.due_at = calendar.add_working_hours(dossier.due_at, paused)
        details["paused_hours"] = paused
        dossier.clock_paused_at = None
    if dossier.origin == "migrated" and dossier.owned_here_at is None:
        # ARCHITECTURE "Who owns a migrated dossier": the first action here makes it hopnhat's.
        dossier.owned_here_at = at
    dossier.status = int(target)
    note = (data.note or "").strip() or (data.reason or "").strip() or None
    if action is Action.REQUEST_SUPPLEMENT and note is None:
        note = "; ".join(_items(data))
    step = ProcessingStep(
        dossier=dossier,
        seq=len(dossier.steps) + 1,
        at=at,
        actor=actor,
        from_status=int(current),
        to_status=int(target),
        note=note,
        due_at=dossier.due_at,
        action=action.value,
        public=public,
        details=details or None,
    )
    session.add(step)
    session.flush()
    enqueue(session, dossier, "step", step)
    notice = _NOTICES.get(action)
    if notice is not None:
        enqueue_notices(session, dossier, notice, _notice_params(action, data, dossier))
    return step


_NOTICES: dict[Action, str] = {
    Action.RECEIVE: "receipt",
    Action.REQUEST_SUPPLEMENT: "supplement",
    Action.REFUSE: "refusal",
    Action.EXTEND: "delay",
    Action.FINISH: "result",
}
"""The actions the applicant is told of (``hopnhat.store.outbox.NOTICE_EVENTS``)."""


def _notice_params(action: Action, data: ActionIn, dossier: Dossier) -> dict[str, Any]:
    """What the notice's template says beyond the dossier: what the applicant is told on the public lookup."""
    due = dossier.due_at.isoformat() if dossier.due_at else None
    if action is Action.REQUEST_SUPPLEMENT:
        return {"items": _items(data), "where": (data.where or "").strip() or None}
    if action is Action.REFUSE:
        return {"reason": (data.reason or "").strip()}
    if action is Action.EXTEND:
        return {"new_due_at": due}
    return {"due_at": due}


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
    """Move ``dossier`` to ``to`` by status (the API's and CLI's older verb): the action the move stands for,
    with ``note`` as its reason (refusal, stop) or its items (supplement, one per line or ``;``)."""
    current = Status(dossier.status)
    try:
        action = action_for(current, to)
    except InvalidTransition as exc:
        raise InvalidTransition(f"dossier {dossier.code}: {exc.detail}") from None
    items = [p for p in (note or "").replace("\n", ";").split(";")] if action is Action.REQUEST_SUPPLEMENT else []
    data = ActionIn(
        action=action.value,
        note=note,
        reason=note if Need.REASON in ACTIONS[action].needs else None,
        items=items,
        new_due_at=new_due_at,
    )
    return act(session, dossier, data, actor=actor, at=at, calendar=calendar)


__all__ = [
    "ACTIONS",
    "ALLOWED",
    "FINAL",
    "Action",
    "Need",
    "Rule",
    "act",
    "action_for",
    "available",
    "parse_action",
    "parse_status",
    "transition",
]
