"""Rules of settlement: intake with code and routing, transitions, the public view, due lists and reports.
Nothing here commits: the CLI command or the request owns the transaction."""

from __future__ import annotations

import logging
import re
import time as clock
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from hopnhat import config
from hopnhat.config import VN_TZ
from hopnhat.errors import Conflict, Forbidden, InvalidInput, NotFound
from hopnhat.identity import audit
from hopnhat.identity import repository as identity_repo
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.settlement import repository as repo
from hopnhat.settlement import routing
from hopnhat.settlement.calendar import DEFAULT_OFFICE_HOURS, OVERRIDE_KINDS, WorkCalendar
from hopnhat.settlement.models import CalendarDay, Procedure
from hopnhat.settlement.schemas import (
    ActionIn,
    ApplicantOut,
    CenterOut,
    DossierOut,
    DueItem,
    IntakeIn,
    ProcedureIn,
    PublicDossierOut,
    ReportRow,
    StepOut,
)
from hopnhat.settlement.workflow import act, parse_status, transition
from hopnhat.store.models import Channel, Dossier, IdType, ProcessingStep, Status
from hopnhat.store.outbox import enqueue, enqueue_notices

log = logging.getLogger(__name__)


def nfc(value: str | None) -> str | None:
    return unicodedata.normalize("NFC", value.strip()) if value is not None else None


# --- calendar -----------------------------------------------------------------------------------------------


def load_calendar(session: Session, office_hours: Sequence[tuple[time, time]] = DEFAULT_OFFICE_HOURS) -> WorkCalendar:
    return WorkCalendar({d.day: d.kind for d in repo.calendar_days(session)}, office_hours)


def set_calendar_day(session: Session, day: date, kind: str, note: str | None) -> CalendarDay:
    if kind not in OVERRIDE_KINDS:
        raise InvalidInput(
            f"calendar day {day}: kind must be 'off' (extra day off), 'work' (make-up day) or 'not_off' "
            "(a library holiday the centers work)"
        )
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, kind=kind, note=nfc(note))
        session.add(row)
    else:
        row.kind, row.note = kind, nfc(note)
    session.flush()
    return row


def dossiers_spanning(session: Session, day: date, limit: int = 1000) -> list[str]:
    """Codes of the open dossiers whose time runs across ``day``: a change to that day would move their due date.
    Their due dates are not changed by the edit; an officer or administrator decides."""
    start = datetime.combine(day, time(0), VN_TZ)
    end = start + timedelta(days=1)
    return list(repo.open_dossiers_spanning(session, start, end, limit))


# --- catalogue ----------------------------------------------------------------------------------------------


def upsert_procedure(session: Session, data: ProcedureIn) -> Procedure:
    if data.level not in ("ministry", "province", "district", "commune"):
        raise InvalidInput(f"procedure {data.code}: level {data.level!r} is not ministry/province/district/commune")
    row = repo.procedure(session, data.code)
    if row is None:
        row = Procedure(code=data.code)
        session.add(row)
    for key, value in data.model_dump(exclude={"code"}).items():
        setattr(row, key, nfc(value) if isinstance(value, str) else value)
    session.flush()
    return row


def time_limit_days(proc: Procedure, channel: Channel) -> float:
    days = {Channel.IN_PERSON: proc.days_in_person, Channel.ONLINE: proc.days_online, Channel.POST: proc.days_post}[
        channel
    ]
    if days is None:
        days = proc.days_in_person
    if days is None:
        raise InvalidInput(f"procedure {proc.code} has no time limit for channel {int(channel)} in the catalogue")
    return days


# --- dossiers -----------------------------------------------------------------------------------------------


def intake(
    session: Session,
    data: IntakeIn,
    calendar: WorkCalendar,
    province_code: str | None = None,
    *,
    principal: Principal,
    at: datetime | None = None,
) -> Dossier:
    """:func:`receive` without its warnings (the API and CLI path)."""
    return receive(session, data, calendar, province_code, principal=principal, at=at)[0]


def receive(
    session: Session,
    data: IntakeIn,
    calendar: WorkCalendar,
    province_code: str | None = None,
    *,
    principal: Principal,
    at: datetime | None = None,
) -> tuple[Dossier, list[str]]:
    """Receive a dossier at any center, route it to the competent one and give it its code and due date; with the
    warnings the officer should read (an ID number of the wrong shape, a missing required document, an address
    that could not be converted). Warnings never refuse the dossier.

    The officer is the principal and the time is the server's (``at`` is for tests' clocks and the CLI's replays of
    paper registers, never a field of the API). An officer receives at one of their own centers: the first one
    unless ``data.received_center`` names another of theirs."""
    principal.require(Permission.DOSSIER_WRITE)
    province_code = province_code or config.province_code()
    received_center = _receiving_center(principal, data.received_center)
    proc = repo.procedure(session, data.procedure_code)
    if proc is None:
        raise NotFound(f"procedure {data.procedure_code} is not in the catalogue")
    if received_center is not None and not may_receive(session, proc, received_center, province_code):
        raise Forbidden(f"center {received_center} does not receive procedure {proc.code} (see the catalogue)")
    received = at or datetime.now(UTC)
    if received.tzinfo is None:
        raise InvalidInput("the time of an intake must carry a time zone")
    day = received.astimezone(VN_TZ).date()
    warnings = applicant_warnings(data) + _document_warnings(proc, data.documents)
    try:
        where = routing.route(
            session, proc.level, commune_code=data.commune_code, address=nfc(data.applicant_address), day=day
        )
    except (Conflict, InvalidInput) as exc:
        if not (data.route_to_receiving_center and received_center and proc.level in ("commune",)):
            raise
        # Dispatch 111/CĐ-TTg: an address the registry cannot place never turns a citizen away. The receiving
        # center keeps the dossier; the officer routes it when the commune is known.
        where = routing.Route(None, received_center, None)
        warnings.append(f"not routed by address ({exc.detail}); kept at the receiving center")
    number = repo.next_number(session, where.center_code, day)
    if number > 9999:
        raise InvalidInput(f"agency {where.center_code} has issued 9999 dossier codes on {day}; the format is full")
    code = f"{where.center_code}-{day:%y%m%d}-{number:04d}"
    channel = Channel(data.channel)
    due = calendar.add_working_days(received, time_limit_days(proc, channel))
    documents = {d.get("code"): d for d in proc.required_documents or []}
    dossier = Dossier(
        code=code,
        province_code=province_code,
        procedure_code=proc.code,
        procedure_name=proc.name,
        field_code=proc.field,
        applicant_type=data.applicant_type,
        applicant_name=nfc(data.applicant_name),
        applicant_id_number=nfc(data.applicant_id_number),
        applicant_id_type=data.applicant_id_type.value if data.applicant_id_type else None,
        applicant_phone=nfc(data.applicant_phone),
        applicant_email=nfc(data.applicant_email) or None,
        applicant_address=nfc(data.applicant_address),
        notice_consent=data.notice_consent,
        channel=int(channel),
        status=int(Status.RECEIVED),
        submitted_at=received,
        received_at=received,
        due_at=due,
        unit_code=where.unit_code,
        center_code=where.center_code,
        origin="native",
        received_center_code=received_center,
        extra={
            "documents": [
                {"code": c, "name": documents[c].get("name") if c in documents else c} for c in data.documents
            ],
            "fees": list(proc.fee_items or []),
        },
    )
    session.add(dossier)
    step = ProcessingStep(
        dossier=dossier,
        seq=1,
        at=received,
        actor=principal.username or "anonymous",
        from_status=None,
        to_status=int(Status.RECEIVED),
        note="received",
        due_at=due,
        action="receive",
    )
    session.add(step)
    session.flush()
    audit.record(
        session,
        principal,
        "dossier.create",
        object_type="dossier",
        object_id=code,
        changes={
            "procedure_code": [None, proc.code],
            "center_code": [None, where.center_code],
            "received_center_code": [None, received_center],
            "due_at": [None, due],
            **{f: [None, "set"] for f in audit.PERSONAL_FIELDS if getattr(dossier, f)},
        },
        citizen_id=dossier.applicant_id_number,
    )
    enqueue(session, dossier, "dossier")
    enqueue_notices(session, dossier, "receipt", {"due_at": due.isoformat()})
    log.info("dossier %s received for %s, due %s", code, where.center_code, due.isoformat())  # no personal data
    return dossier, warnings


_ID_SHAPES: dict[IdType, tuple[re.Pattern[str], str]] = {
    IdType.CITIZEN_ID: (re.compile(r"\d{12}"), "a citizen ID number has 12 digits"),
    IdType.OLD_ID: (re.compile(r"\d{9}"), "an old ID card number has 9 digits"),
    IdType.PASSPORT: (re.compile(r"[A-Z]\d{7,8}"), "a Vietnamese passport number is a letter and 7 or 8 digits"),
    IdType.BUSINESS_CODE: (re.compile(r"\d{10}(-\d{3})?"), "a business code has 10 digits (a branch adds -NNN)"),
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def applicant_warnings(data: IntakeIn) -> list[str]:
    """What looks wrong in the applicant's papers or contacts: said to the officer, never a refusal (old papers
    stay valid, Dispatch 111/CĐ-TTg). Values are not repeated in the text (it may reach a log)."""
    out: list[str] = []
    number = (data.applicant_id_number or "").strip().upper()
    if number and data.applicant_id_type in _ID_SHAPES:
        assert data.applicant_id_type is not None
        pattern, rule = _ID_SHAPES[data.applicant_id_type]
        if not pattern.fullmatch(number):
            out.append(f"identity paper: {rule}")
    if number and data.applicant_id_type is None:
        out.append("identity paper: its type is not given")
    if data.applicant_email and not _EMAIL.fullmatch(data.applicant_email.strip()):
        out.append("e-mail: not an address of the form name@domain")
    if data.notice_consent and not (data.applicant_email or data.applicant_phone):
        out.append("notices: consent given but no phone or e-mail to send them to")
    return out


def _document_warnings(proc: Procedure, handed: list[str]) -> list[str]:
    known = {d.get("code"): d for d in proc.required_documents or []}
    out = [f"document {c}: not a document of procedure {proc.code}" for c in handed if c not in known]
    missing = [c for c, d in known.items() if d.get("required", True) and c not in handed]
    if missing:
        out.append(f"required documents not handed in: {', '.join(str(m) for m in missing)}")
    return out


def may_receive(session: Session, proc: Procedure, center_code: str, province_code: str) -> bool:
    """Whether a center may receive a procedure: the catalogue's ``receiving_centers`` (empty: every center,
    Decree 118/2025); ``province`` and ``commune`` stand for every center of that level."""
    allowed = proc.receiving_centers or []
    if not allowed or center_code in allowed:
        return True
    level = repo.center_level(session, center_code, province_code)
    return level is not None and level in allowed


def due_preview(proc: Procedure, channel: Channel, calendar: WorkCalendar, at: datetime) -> datetime:
    """The due date an intake at ``at`` would give."""
    return calendar.add_working_days(at, time_limit_days(proc, channel))


def receivable(session: Session, center_code: str | None, province_code: str) -> list[Procedure]:
    """The procedures a center may receive (all of them for a principal with no center), district ones excepted
    (they must be re-levelled first)."""
    out = [p for p in repo.procedures(session) if p.level != "district"]
    if center_code is None:
        return out
    return [p for p in out if may_receive(session, p, center_code, province_code)]


def _receiving_center(principal: Principal, asked: str | None) -> str | None:
    asked = (asked or "").strip() or None
    scope = principal.dossier_scope
    if scope.everything:
        return asked
    if asked is None:
        if not principal.centers:
            raise Forbidden(f"{principal.username} belongs to no service center and cannot receive dossiers")
        return sorted(principal.centers)[0]
    if asked not in principal.centers:
        raise Forbidden(f"{principal.username} does not work at center {asked}")
    return asked


def sees(principal: Principal, dossier: Dossier) -> bool:
    """Whether the principal's scope covers this dossier (its receiving center, its handling center or unit)."""
    return principal.dossier_scope.allows(
        received_center=dossier.received_center_code,
        center=dossier.center_code,
        holder_unit=dossier.holder_unit_code,
        holder_username=dossier.holder_username,
    )


def get_dossier(session: Session, code: str, principal: Principal | None = None) -> Dossier:
    """The dossier with this code; with a principal, only if they may read it (an unseen dossier answers as if it
    did not exist, so codes of other centers cannot be probed)."""
    if principal is not None:
        principal.require(Permission.DOSSIER_READ)
    found = repo.dossier(session, code.strip())
    if found is None or (principal is not None and not sees(principal, found)):
        raise NotFound(f"no dossier has code {code.strip()[:64]!r}")
    return found


def change_status(
    session: Session,
    code: str,
    to: str | int,
    *,
    actor: str,
    calendar: WorkCalendar,
    note: str | None = None,
    due_at: datetime | None = None,
    at: datetime | None = None,
    principal: Principal | None = None,
) -> Dossier:
    """Move a dossier. With a principal (pages, API), they must be allowed to change it and they are the actor."""
    if principal is not None:
        principal.require(Permission.DOSSIER_WRITE)
    dossier = get_dossier(session, code, principal)
    target = parse_status(to)
    when = at or datetime.now(UTC)
    before = {"status": dossier.status, "due_at": dossier.due_at, "finished_at": dossier.finished_at}
    transition(session, dossier, target, actor=actor, at=when, calendar=calendar, note=nfc(note), new_due_at=due_at)
    after = {"status": dossier.status, "due_at": dossier.due_at, "finished_at": dossier.finished_at}
    audit.record(
        session,
        principal,
        "dossier.transition",
        object_type="dossier",
        object_id=dossier.code,
        changes=audit.diff(before, after) or {"status": [before["status"], after["status"]]},
        citizen_id=dossier.applicant_id_number,
        client=None if principal is not None else "cli",
    )
    log.info("dossier %s -> %s", dossier.code, target.value)
    return dossier


def act_on(
    session: Session,
    code: str,
    data: ActionIn,
    *,
    principal: Principal,
    calendar: WorkCalendar,
    at: datetime | None = None,
) -> tuple[Dossier, ProcessingStep]:
    """Do one workflow action on a dossier the principal sees; audited, and the principal is the actor."""
    principal.require(Permission.DOSSIER_WRITE)
    dossier = get_dossier(session, code, principal)
    if data.holder_username and identity_repo.user_by_name(session, data.holder_username.strip()) is None:
        raise NotFound(f"no officer has the account {data.holder_username.strip()[:64]!r}")
    if data.holder_unit and not repo.agency_exists(session, data.holder_unit.strip()):
        # A mistyped unit would leave the dossier with a holder nobody is: the registry names the real ones.
        raise NotFound(f"no agency has code {data.holder_unit.strip()[:40]!r} in the registry")
    when = at or datetime.now(UTC)
    fields = ("status", "due_at", "holder_unit_code", "holder_username", "refused_at", "returned_at")
    before = {f: getattr(dossier, f) for f in fields}
    step = act(session, dossier, data, actor=principal.username or "", at=when, calendar=calendar)
    after = {f: getattr(dossier, f) for f in fields}
    audit.record(
        session,
        principal,
        f"dossier.{step.action}",
        object_type="dossier",
        object_id=dossier.code,
        changes=audit.diff(before, after) or None,
        citizen_id=dossier.applicant_id_number,
    )
    log.info("dossier %s: %s", dossier.code, step.action)
    return dossier, step


def view_dossier(session: Session, code: str, principal: Principal) -> DossierOut:
    """The officer's view of a dossier, with the applicant's personal data: the view is audited."""
    return dossier_out(open_dossier(session, code, principal), personal=True)


def open_dossier(session: Session, code: str, principal: Principal) -> Dossier:
    """The dossier, read by an officer who will see the applicant's data (the dossier page): audited."""
    dossier = get_dossier(session, code, principal)
    audit.record(
        session,
        principal,
        "dossier.view",
        object_type="dossier",
        object_id=dossier.code,
        citizen_id=dossier.applicant_id_number,
    )
    return dossier


def _steps(dossier: Dossier) -> list[StepOut]:
    return [
        StepOut(
            seq=s.seq,
            at=s.at,
            from_status=s.from_status,
            to_status=s.to_status,
            note=s.note,
            due_at=s.due_at,
            actor=s.actor,
        )
        for s in dossier.steps
    ]


def dossier_out(dossier: Dossier, *, personal: bool = False) -> DossierOut:
    """The officer's view; ``personal`` adds the applicant's data (callers audit that: :func:`view_dossier`)."""
    return DossierOut(
        code=dossier.code,
        procedure_code=dossier.procedure_code,
        procedure_name=dossier.procedure_name,
        status=dossier.status,
        status_name=Status(dossier.status).name.lower(),
        channel=dossier.channel,
        received_at=dossier.received_at,
        due_at=dossier.due_at,
        finished_at=dossier.finished_at,
        clock_paused=dossier.clock_paused_at is not None,
        unit_code=dossier.unit_code,
        center_code=dossier.center_code,
        received_center_code=dossier.received_center_code,
        steps=_steps(dossier),
        applicant=ApplicantOut(
            name=dossier.applicant_name,
            id_number=dossier.applicant_id_number,
            phone=dossier.applicant_phone,
            address=dossier.applicant_address,
        )
        if personal
        else None,
    )


def public_view(db: Session | Connection, code: str) -> PublicDossierOut:
    """The citizen lookup: status, dates, the centers (name, address, phone), steps, and for a refusal or a stop its
    reason, for a supplement request its items; raises NotFound for an unknown code. A code is found in any letter
    case (codes are issued in capitals; a citizen types what the slip shows, or its lower case).

    No personal data at all, not even a masked name: the query never reads an ``applicant_*`` column, nor the
    steps' actor, note or officers' details (they may name officers or quote the applicant); only what the officer
    wrote for the applicant (``ProcessingStep.public``). It works on a plain ``Connection`` as well as in a
    request's ``Session``."""
    key = code.strip()
    rows = repo.public_dossier_rows(db, key)
    if not rows and key.upper() != key:
        rows = repo.public_dossier_rows(db, key.upper())
    if not rows:
        raise NotFound(f"no dossier has code {key[:64]!r}")
    head = rows[0]
    status = Status(head.status)
    reason, items, where = None, [], None
    told = [r for r in rows if r.seq is not None and r.public]
    if status in (Status.REFUSED, Status.STOPPED) and told:
        reason = next((r.public.get("reason") for r in reversed(told) if r.public.get("reason")), None)
    if status == Status.SUPPLEMENT_REQUESTED:
        asked = next((r.public for r in reversed(told) if r.public.get("items")), None)
        if asked is not None:
            items, where = list(asked.get("items") or []), asked.get("where")
    centers = public_centers(db, {c for c in (head.center_code, head.received_center_code) if c})
    return PublicDossierOut(
        code=head.code,
        procedure_code=head.procedure_code,
        procedure_name=head.procedure_name,
        status=head.status,
        status_name=status.name.lower(),
        received_at=head.received_at,
        due_at=head.due_at,
        finished_at=head.finished_at,
        handling_unit=head.center_code,
        steps=[
            StepOut(seq=r.seq, at=r.at, from_status=r.from_status, to_status=r.to_status, due_at=r.step_due_at)
            for r in rows
            if r.seq is not None
        ],
        center=centers.get(head.center_code or ""),
        received_center=centers.get(head.received_center_code or "")
        if head.received_center_code != head.center_code
        else None,
        reason=reason,
        supplement_items=items,
        supplement_where=where or (_where_to_bring(centers, head) if items else None),
    )


def _where_to_bring(centers: dict[str, CenterOut], head: Any) -> str | None:
    center = centers.get(head.received_center_code or "") or centers.get(head.center_code or "")
    if center is None:
        return None
    return ", ".join(p for p in (center.name, center.address) if p) or None


_CENTER_CACHE: dict[str, tuple[float, CenterOut]] = {}
CENTER_CACHE_SECONDS = 60.0
"""Centers' names and contacts change seldom and the lookup is the hottest path: each is read at most once a
minute per process."""


def public_centers(db: Session | Connection, codes: set[str]) -> dict[str, CenterOut]:
    """The centers with these agency codes as the public sees them (cached a minute per process)."""
    now = clock.monotonic()
    out = {
        c: hit[1] for c in codes if (hit := _CENTER_CACHE.get(c)) is not None and now - hit[0] < CENTER_CACHE_SECONDS
    }
    missing = codes - out.keys()
    if missing:
        for found in repo.center_contacts(db, missing):
            center = CenterOut(code=found.code, name=found.name, address=found.address, phone=found.phone)
            out[found.code] = center
            _CENTER_CACHE[found.code] = (now, center)
        for code in missing - out.keys():
            out[code] = CenterOut(code=code)
    return out


def clear_center_cache() -> None:
    """Forget the cached centers (after a center's contacts change in this process, and in tests)."""
    _CENTER_CACHE.clear()


def is_late(dossier: Dossier, now: datetime) -> bool:
    """Late (quá hạn): open and past due with its clock running (a supplement request stops it), or finished after
    its due time. Overdue is not a status of its own; the pages and the due lists use this one rule."""
    if dossier.due_at is None:
        return False
    if dossier.status not in repo.OPEN_STATUSES:
        return dossier.finished_at is not None and dossier.finished_at > dossier.due_at
    return dossier.clock_paused_at is None and dossier.due_at < now


def _due_items(rows: Sequence[Dossier]) -> list[DueItem]:
    return [
        DueItem(
            code=d.code, procedure_code=d.procedure_code, status=d.status, due_at=d.due_at, center_code=d.center_code
        )
        for d in rows
        if d.due_at is not None and d.clock_paused_at is None  # a paused clock cannot run late
    ]


def _visible(rows: Sequence[Dossier], principal: Principal | None) -> Sequence[Dossier]:
    if principal is None:
        return rows
    principal.require(Permission.DUE_LISTS)
    if principal.dossier_scope.everything:
        return rows
    return [d for d in rows if sees(principal, d)]


def overdue(
    session: Session, now: datetime, center: str | None = None, principal: Principal | None = None
) -> list[DueItem]:
    return _due_items(_visible(repo.open_dossiers_due_before(session, now, center), principal))


def due_soon(
    session: Session,
    now: datetime,
    calendar: WorkCalendar,
    hours: float = 8.0,
    center: str | None = None,
    principal: Principal | None = None,
) -> list[DueItem]:
    """Open dossiers not yet late that fall due within ``hours`` working hours."""
    limit = calendar.add_working_hours(now, hours)
    rows = _visible(repo.open_dossiers_due_before(session, limit, center), principal)
    return [i for i in _due_items(rows) if i.due_at >= now]


# --- reports ------------------------------------------------------------------------------------------------


def report(
    session: Session,
    start: date,
    end: date,
    calendar: WorkCalendar,
    center: str | None = None,
    principal: Principal | None = None,
) -> list[ReportRow]:
    """Decision 766 indicators per center for dossiers received from ``start`` to ``end`` (inclusive, VN days).
    A center leader's report covers the dossiers of their centers only."""
    if end < start:
        raise InvalidInput(f"report period: {end} is before {start}")
    if principal is not None:
        principal.require(Permission.REPORTS)
    lo = datetime.combine(start, time(0), VN_TZ)
    hi = datetime.combine(end + timedelta(days=1), time(0), VN_TZ)
    rows = repo.received_between(session, lo, hi, center)
    if principal is not None and not principal.dossier_scope.everything:
        rows = [d for d in rows if sees(principal, d)]
    synced = repo.synced_codes(session, [d.code for d in rows])
    groups: dict[str, list[Dossier]] = {}
    for d in rows:
        groups.setdefault(d.center_code or "-", []).append(d)
    out: list[ReportRow] = []
    for key in sorted(groups):
        items = groups[key]
        done = [d for d in items if d.finished_at is not None]
        early = on_time = late = 0
        spans: list[float] = []
        for d in done:
            assert d.finished_at is not None
            spans.append(calendar.working_hours_between(d.received_at, d.finished_at) / calendar.hours_per_day)
            if d.due_at is None:
                continue
            if d.finished_at > d.due_at:
                late += 1
            elif d.finished_at.astimezone(VN_TZ).date() < d.due_at.astimezone(VN_TZ).date():
                early += 1
            else:
                on_time += 1
        n = len(items)
        judged = early + on_time + late
        out.append(
            ReportRow(
                center_code=key,
                received=n,
                finished=len(done),
                early=early,
                on_time=on_time,
                late=late,
                on_time_rate=round((early + on_time) / judged, 4) if judged else None,
                avg_working_days=round(sum(spans) / len(spans), 2) if spans else None,
                online_share=round(sum(1 for d in items if d.channel == Channel.ONLINE) / n, 4) if n else None,
                synced_share=round(sum(1 for d in items if d.code in synced) / n, 4) if n else None,
            )
        )
    return out


__all__ = [
    "act_on",
    "applicant_warnings",
    "change_status",
    "clear_center_cache",
    "dossier_out",
    "dossiers_spanning",
    "due_preview",
    "due_soon",
    "get_dossier",
    "intake",
    "is_late",
    "load_calendar",
    "may_receive",
    "open_dossier",
    "overdue",
    "public_centers",
    "public_view",
    "receivable",
    "receive",
    "report",
    "sees",
    "set_calendar_day",
    "time_limit_days",
    "upsert_procedure",
    "view_dossier",
]
