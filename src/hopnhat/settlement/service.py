"""Rules of settlement: intake with code and routing, transitions, the public view, due lists and reports.
Nothing here commits: the CLI command or the request owns the transaction."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from hopnhat import config
from hopnhat.config import VN_TZ
from hopnhat.errors import Forbidden, InvalidInput, NotFound
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.settlement import repository as repo
from hopnhat.settlement import routing
from hopnhat.settlement.calendar import DEFAULT_OFFICE_HOURS, OVERRIDE_KINDS, WorkCalendar
from hopnhat.settlement.models import CalendarDay, Procedure
from hopnhat.settlement.schemas import (
    ApplicantOut,
    DossierOut,
    DueItem,
    IntakeIn,
    ProcedureIn,
    PublicDossierOut,
    ReportRow,
    StepOut,
)
from hopnhat.settlement.workflow import parse_status, transition
from hopnhat.store.models import Channel, Dossier, ProcessingStep, Status
from hopnhat.store.outbox import enqueue

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
    """Receive a dossier at any center, route it to the competent one and give it its code and due date.

    The officer is the principal and the time is the server's (``at`` is for tests' clocks and the CLI's replays of
    paper registers, never a field of the API). An officer receives at one of their own centers: the first one
    unless ``data.received_center`` names another of theirs."""
    principal.require(Permission.DOSSIER_WRITE)
    received_center = _receiving_center(principal, data.received_center)
    proc = repo.procedure(session, data.procedure_code)
    if proc is None:
        raise NotFound(f"procedure {data.procedure_code} is not in the catalogue")
    received = at or datetime.now(UTC)
    if received.tzinfo is None:
        raise InvalidInput("the time of an intake must carry a time zone")
    day = received.astimezone(VN_TZ).date()
    where = routing.route(
        session, proc.level, commune_code=data.commune_code, address=nfc(data.applicant_address), day=day
    )
    number = repo.next_number(session, where.center_code, day)
    if number > 9999:
        raise InvalidInput(f"agency {where.center_code} has issued 9999 dossier codes on {day}; the format is full")
    code = f"{where.center_code}-{day:%y%m%d}-{number:04d}"
    channel = Channel(data.channel)
    due = calendar.add_working_days(received, time_limit_days(proc, channel))
    dossier = Dossier(
        code=code,
        province_code=province_code or config.province_code(),
        procedure_code=proc.code,
        procedure_name=proc.name,
        field_code=proc.field,
        applicant_type=data.applicant_type,
        applicant_name=nfc(data.applicant_name),
        applicant_id_number=nfc(data.applicant_id_number),
        applicant_phone=nfc(data.applicant_phone),
        applicant_address=nfc(data.applicant_address),
        channel=int(channel),
        status=int(Status.RECEIVED),
        received_at=received,
        due_at=due,
        unit_code=where.unit_code,
        center_code=where.center_code,
        origin="native",
        received_center_code=received_center,
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
    log.info("dossier %s received for %s, due %s", code, where.center_code, due.isoformat())  # no personal data
    return dossier


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


def view_dossier(session: Session, code: str, principal: Principal) -> DossierOut:
    """The officer's view of a dossier, with the applicant's personal data: the view is audited."""
    dossier = get_dossier(session, code, principal)
    audit.record(
        session,
        principal,
        "dossier.view",
        object_type="dossier",
        object_id=dossier.code,
        citizen_id=dossier.applicant_id_number,
    )
    return dossier_out(dossier, personal=True)


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
    """The citizen lookup: status, dates, handling unit and steps; raises NotFound for an unknown code.

    No personal data at all, not even a masked name: the query never reads an ``applicant_*`` column, nor the
    steps' actor and note (they may name officers or quote the applicant). It runs as one statement, so it works on
    a plain ``Connection`` as well as in a request's ``Session``."""
    key = code.strip()
    rows = repo.public_dossier_rows(db, key)
    if not rows:
        raise NotFound(f"no dossier has code {key[:64]!r}")
    head = rows[0]
    return PublicDossierOut(
        code=head.code,
        procedure_code=head.procedure_code,
        procedure_name=head.procedure_name,
        status=head.status,
        status_name=Status(head.status).name.lower(),
        received_at=head.received_at,
        due_at=head.due_at,
        finished_at=head.finished_at,
        handling_unit=head.center_code,
        steps=[
            StepOut(seq=r.seq, at=r.at, from_status=r.from_status, to_status=r.to_status, due_at=r.step_due_at)
            for r in rows
            if r.seq is not None
        ],
    )


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
    "change_status",
    "dossier_out",
    "dossiers_spanning",
    "due_soon",
    "get_dossier",
    "intake",
    "load_calendar",
    "overdue",
    "public_view",
    "report",
    "sees",
    "set_calendar_day",
    "time_limit_days",
    "upsert_procedure",
    "view_dossier",
]
