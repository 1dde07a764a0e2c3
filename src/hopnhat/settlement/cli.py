"""``hopnhat catalog|processes|dossiers|calendar|reports``: thin commands over the settlement services.
Each command owns its transaction and commits once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so the services (FastAPI, openpyxl,
# holidays) are imported inside the commands that use them.
from hopnhat.cli_support import (
    audited,
    console,
    count,
    engine,
    lang,
    local_time,
    parse_day,
    principal,
    print_json,
    print_table,
    short_center,
    state,
    status_name,
    table,
    tr,
)
from hopnhat.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hopnhat.files import FileLimits
    from hopnhat.settlement.schemas import DueItem, DueReviewOut, ReportRow

catalog_app = typer.Typer(help="Procedure catalogue: import, export, re-level.", no_args_is_help=True)
processes_app = typer.Typer(help="Electronic processes of procedures.", no_args_is_help=True)
dossiers_app = typer.Typer(help="Dossiers: intake, status changes, due lists.", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar and due dates.", no_args_is_help=True)
days_app = typer.Typer(help="Extra days off and make-up working days.", no_args_is_help=True)
calendar_app.add_typer(days_app, name="days")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
OfficeOpt = Annotated[
    str | None, typer.Option("--office-hours", help="Office hours, e.g. 07:30-11:30,13:30-17:30 (the default).")
]


def _when(value: str | None, option: str) -> datetime:
    """A user-typed instant; a naive one is Vietnam time."""
    from hopnhat.config import VN_TZ

    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        try:
            d = parse_day(value, option)
        except InvalidInput:
            raise InvalidInput(f"{option} {value!r} is not a date-time (YYYY-MM-DDTHH:MM)") from None
        parsed = datetime(d.year, d.month, d.day, 7, 30)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN_TZ)


def _limits(ctx: typer.Context) -> FileLimits:
    from hopnhat.files import FileLimits

    return FileLimits.from_settings(state(ctx).settings)


def _read(ctx: typer.Context, path: Path) -> str:
    """An imported file's text, within the import limits (:mod:`hopnhat.files`)."""
    from hopnhat.files import read_text

    return read_text(path, _limits(ctx))


def _fmt(path: Path, given: str | None) -> str:
    return (given or path.suffix.lstrip(".")).lower()


# --- catalog ------------------------------------------------------------------------------------------------


@catalog_app.command("import")
def catalog_import(ctx: typer.Context, file: Path, fmt: Annotated[str | None, typer.Option("--format")] = None) -> None:
    """Import procedures from a CSV or JSON file (insert or update by code)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import catalog

    with session_scope(engine(ctx)) as s:
        n = catalog.import_catalog(s, _read(ctx, file), _fmt(file, fmt), _limits(ctx))
        audited(ctx, s, "catalog.import", "file", file.name, {"procedures": [None, n]})
    console.print(tr("cli_imported", lang(ctx)).format(count(n, "cli_n_procedures", lang(ctx))), highlight=False)


@catalog_app.command("sample")
def catalog_sample(ctx: typer.Context) -> None:
    """Load the bundled SAMPLE catalogue (not the official list)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import catalog

    with session_scope(engine(ctx)) as s:
        n = catalog.load_sample(s)
    console.print(tr("cli_sample_loaded", lang(ctx)).format(count(n, "cli_n_procedures", lang(ctx))), highlight=False)


@catalog_app.command("export")
def catalog_export(ctx: typer.Context, fmt: Annotated[str, typer.Option("--format")] = "json") -> None:
    """Print the catalogue as CSV or JSON."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import catalog

    with session_scope(engine(ctx)) as s:
        typer.echo(catalog.export_catalog(s, fmt.lower()))


@catalog_app.command("relevel")
def catalog_relevel(
    ctx: typer.Context,
    rules: Annotated[Path, typer.Option("--rules", help="CSV match,to_level")],
    as_json: JsonOpt = False,
) -> None:
    """Move every district-level procedure to commune or province level; list those left unassigned."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import catalog

    table = catalog.read_rules(_read(ctx, rules), _limits(ctx))
    with session_scope(engine(ctx)) as s:
        result = catalog.relevel(s, table)
    if as_json:
        print_json({"moved": [{"code": c, "level": lv} for c, lv in result.moved], "unassigned": result.unassigned})
        return
    for code, level in result.moved:
        console.print(f"{code} -> {level}")
    language = lang(ctx)
    unassigned = ", ".join(result.unassigned) or tr("cli_none", language)
    moved = count(len(result.moved), "cli_n_procedures", language)
    console.print(tr("cli_relevelled", language).format(moved, unassigned), highlight=False)
    if result.unassigned:
        raise typer.Exit(2)


# --- processes ----------------------------------------------------------------------------------------------


@processes_app.command("convert")
def processes_convert(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Legacy process JSON (one object or a list)")],
    rules: Annotated[Path | None, typer.Option("--rules", help="CSV match,to_level (procedure code or *)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rewrite legacy three-level processes into two-level ones; flag allowances that miss the legal limit."""
    from hopnhat.config import VN_TZ
    from hopnhat.db import session_scope
    from hopnhat.settlement import catalog, processes

    table = dict(catalog.read_rules(_read(ctx, rules), _limits(ctx))) if rules else {}
    with session_scope(engine(ctx)) as s:
        results = [
            processes.convert(s, p, table, datetime.now(VN_TZ).date()) for p in processes.load_legacy(_read(ctx, file))
        ]
    out = [
        {
            "procedure": r.procedure_code,
            "version": r.version,
            "hours": r.total_hours,
            "limit_hours": r.limit_hours,
            "mismatch": r.mismatch,
        }
        for r in results
    ]
    if as_json:
        print_json(out)
    else:
        for o in out:
            flag = "  MISMATCH with the legal time limit" if o["mismatch"] else ""
            console.print(f"{o['procedure']} v{o['version']}: {o['hours']} h of {o['limit_hours']} h{flag}")
    if any(r.mismatch for r in results):
        raise typer.Exit(2)


# --- dossiers -----------------------------------------------------------------------------------------------


@dossiers_app.command("intake")
def dossiers_intake(
    ctx: typer.Context,
    procedure: Annotated[str, typer.Option("--procedure")],
    name: Annotated[str, typer.Option("--name", help="Applicant's full name")],
    channel: Annotated[int, typer.Option("--channel", help="1 in person, 2 online, 3 post")] = 1,
    address: Annotated[str | None, typer.Option("--address")] = None,
    commune: Annotated[str | None, typer.Option("--commune", help="Commune code (choose when ambiguous)")] = None,
    id_number: Annotated[str | None, typer.Option("--id-number")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    center: Annotated[
        str | None, typer.Option("--at-center", help="Center receiving it (one of the account's; default its first)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Receive a dossier (any center), route it and print its code and due date. The officer is the account the
    command acts as (HOPNHAT_TOKEN, or HOPNHAT_CLI_ACCOUNT on SQLite) and the time is now."""
    from pydantic import ValidationError

    from hopnhat.db import session_scope
    from hopnhat.settlement import service
    from hopnhat.settlement.schemas import IntakeIn

    try:
        body = IntakeIn(
            procedure_code=procedure,
            channel=channel,
            applicant_name=name,
            applicant_address=address,
            commune_code=commune,
            applicant_id_number=id_number,
            applicant_phone=phone,
            received_center=center,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"intake: {where}: {first['msg']}") from None
    settings = state(ctx).settings
    with session_scope(engine(ctx)) as s:
        d = service.intake(s, body, service.load_calendar(s), settings.province_code, principal=principal(ctx, s))
        out = service.dossier_out(d)
    if as_json:
        print_json(out.model_dump(mode="json"))
    else:
        language = lang(ctx)
        print_table(
            table(language, "cli_code", "cli_due", "cli_center", "status"),
            [[out.code, local_time(out.due_at, language), out.center_code or "-", status_name(out.status, language)]],
        )


@dossiers_app.command("transition")
def dossiers_transition(
    ctx: typer.Context,
    code: str,
    to: Annotated[str, typer.Option("--to", help="Status number or name")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    due: Annotated[str | None, typer.Option("--due", help="New due date (extension)")] = None,
) -> None:
    """Change a dossier's status (recorded as a processing step by the account the command acts as, now, and sent
    to the portal)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import service

    with session_scope(engine(ctx)) as s:
        who = principal(ctx, s)
        d = service.change_status(
            s,
            code,
            to,
            actor=who.username or "",
            calendar=service.load_calendar(s),
            note=note,
            due_at=_when(due, "--due") if due else None,
            principal=who,
        )
        status = d.status
    console.print(f"{code}: {status_name(status, lang(ctx))}", highlight=False)


@dossiers_app.command("act")
def dossiers_act(
    ctx: typer.Context,
    code: str,
    action: Annotated[str, typer.Argument(help="hand_off, hand_back, request_supplement, refuse, extend, ...")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Refusal or stop: the applicant sees it")] = None,
    item: Annotated[list[str] | None, typer.Option("--item", help="Supplement: an item to bring (repeat)")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Hand-off: the unit's agency code")] = None,
    officer: Annotated[str | None, typer.Option("--officer", help="Hand-off: the officer's account")] = None,
    due: Annotated[str | None, typer.Option("--due", help="Extension: the new due date")] = None,
    returned_to: Annotated[str | None, typer.Option("--returned-to")] = None,
    how: Annotated[str | None, typer.Option("--how", help="at_counter, post or online")] = None,
) -> None:
    """Do one workflow action on a dossier (the dossier page's actions), as the account the command acts as."""
    from pydantic import ValidationError

    from hopnhat.db import session_scope
    from hopnhat.settlement import service
    from hopnhat.settlement.schemas import ActionIn

    try:
        data = ActionIn(
            action=action,
            note=note,
            reason=reason,
            items=item or [],
            holder_unit=unit,
            holder_username=officer,
            new_due_at=_when(due, "--due") if due else None,
            returned_to=returned_to,
            return_method=how,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{action}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    with session_scope(engine(ctx)) as s:
        d, step = service.act_on(s, code, data, principal=principal(ctx, s), calendar=service.load_calendar(s))
        status = d.status
    console.print(f"{code}: {step.action}, {status_name(status, lang(ctx))}", highlight=False)


@dossiers_app.command("show")
def dossiers_show(ctx: typer.Context, code: str, as_json: JsonOpt = False) -> None:
    """Officer view of a dossier with the applicant's data (recorded in the audit log); --json for scripts."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import service

    with session_scope(engine(ctx)) as s:
        d = service.view_dossier(s, code, principal(ctx, s))
        names = _center_names(s)
    if as_json:
        print_json(d.model_dump(mode="json"))
        return
    language = lang(ctx)
    a = d.applicant
    facts = [
        ["cli_code", d.code],
        ["cli_procedure", f"{d.procedure_code} {d.procedure_name or ''}".strip()],
        ["status", status_name(d.status, language)],
        ["cli_received", local_time(d.received_at, language)],
        ["cli_due", local_time(d.due_at, language)],
        ["cli_center", names.get(d.center_code or "", d.center_code or "-")],
        ["cli_applicant", a.name or "-" if a else "-"],
        ["cli_id_number", a.id_number or "-" if a else "-"],
        ["cli_phone", a.phone or "-" if a else "-"],
        ["cli_address", a.address or "-" if a else "-"],
    ]
    print_table(table(language, "cli_item", "cli_value"), ([tr(k, language), v] for k, v in facts))
    print_table(
        table(language, "cli_seq", "cli_at", "status", "cli_account", "cli_note"),
        (
            [
                str(st.seq),
                local_time(st.at, language),
                status_name(st.to_status, language),
                st.actor or "-",
                st.note or "",
            ]
            for st in d.steps
        ),
    )


def _print_due(ctx: typer.Context, items: list[DueItem], names: dict[str, str], as_json: bool, empty: str) -> None:
    """A due list: a table with status names, center names and Vietnam time; ``--json``: numbers and UTC."""
    if as_json:
        print_json([i.model_dump(mode="json") for i in items])
        return
    language = lang(ctx)
    if not items:
        console.print(tr(empty, language), highlight=False)
        return
    print_table(
        table(language, "cli_code", "cli_procedure", "status", "cli_due", "cli_center"),
        (
            [
                i.code,
                i.procedure_code,
                status_name(i.status, language),
                local_time(i.due_at, language),
                short_center(names.get(i.center_code or "", i.center_code)),
            ]
            for i in items
        ),
    )
    console.print(count(len(items), "cli_n_dossiers", language), highlight=False)


def _center_names(s: Session) -> dict[str, str]:
    """Every center's name by its commune code and by its agency code (a dossier may carry either)."""
    from hopnhat.continuity import repository as centers_repo

    names: dict[str, str] = {}
    for c in centers_repo.centers(s):
        names[c.code] = c.name
        if c.agency_code:
            names[c.agency_code] = c.name
    return names


@dossiers_app.command("overdue")
def dossiers_overdue(
    ctx: typer.Context, center: Annotated[str | None, typer.Option("--center")] = None, as_json: JsonOpt = False
) -> None:
    """Open dossiers past their due date (a table; --json: statuses as numbers, times in UTC)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import service

    with session_scope(engine(ctx)) as s:
        items = service.overdue(s, datetime.now(UTC), center, principal(ctx, s))
        names = _center_names(s)
    _print_due(ctx, items, names, as_json, "cli_none_overdue")


@dossiers_app.command("due-soon")
def dossiers_due_soon(
    ctx: typer.Context,
    center: Annotated[str | None, typer.Option("--center")] = None,
    hours: Annotated[float, typer.Option("--hours", help="Working hours ahead")] = 8.0,
    as_json: JsonOpt = False,
) -> None:
    """Open dossiers falling due within the next working hours (a table; --json for scripts)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import service

    with session_scope(engine(ctx)) as s:
        items = service.due_soon(s, datetime.now(UTC), service.load_calendar(s), hours, center, principal(ctx, s))
        names = _center_names(s)
    _print_due(ctx, items, names, as_json, "cli_none_due_soon")


# --- calendar -----------------------------------------------------------------------------------------------


@calendar_app.command("due")
def calendar_due(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="Start, e.g. 2026-02-13T09:00 (Vietnam time)")],
    days: Annotated[float, typer.Option("--days", help="Time limit in working days")],
    office: OfficeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the due date ``--days`` working days after ``--from``."""
    from hopnhat.config import VN_TZ
    from hopnhat.db import session_scope
    from hopnhat.settlement import service
    from hopnhat.settlement.calendar import DEFAULT_OFFICE_HOURS, parse_office_hours

    hours = parse_office_hours(office) if office else DEFAULT_OFFICE_HOURS
    with session_scope(engine(ctx)) as s:
        cal = service.load_calendar(s, hours)
    begin = _when(start, "--from")
    due = cal.add_working_days(begin, days).astimezone(VN_TZ)
    if as_json:
        print_json({"from": begin.isoformat(), "days": days, "due": due.isoformat()})
    else:
        typer.echo(due.strftime("%Y-%m-%d %H:%M"))


def _print_reviews(ctx: typer.Context, reviews: list[DueReviewOut], day: str) -> None:
    if not reviews:
        return
    language = lang(ctx)
    # A due date already given is not moved by a later edit of the calendar: someone decides, dossier by dossier.
    console.print(
        tr("cli_reviews_intro", language).format(count(len(reviews), "cli_n_open_dossiers", language), day),
        soft_wrap=True,
        highlight=False,
    )
    _review_table(language, reviews[:50])
    if len(reviews) > 50:
        console.print(tr("cli_and_more", language).format(len(reviews) - 50), highlight=False)


def _day_text(day: date, language: str) -> str:
    return f"{day:%d/%m/%Y}" if language != "en" else day.isoformat()


def _review_table(language: str, rows: list[DueReviewOut]) -> None:
    print_table(
        table(language, "cli_code", "cli_center", "cli_due_given", "cli_due_new", "cli_decision"),
        (
            [
                r.code,
                r.center_code or "-",
                local_time(r.given_due_at, language),
                local_time(r.proposed_due_at, language),
                tr(f"cli_review_{r.state}", language),
            ]
            for r in rows
        ),
    )


@days_app.command("add")
def days_add(
    ctx: typer.Context,
    day: str,
    kind: Annotated[
        str,
        typer.Option("--kind", help="off (extra day off), work (make-up day) or not_off (a library holiday worked)"),
    ],
    note: Annotated[
        str | None, typer.Option("--note", help="The legal basis (căn cứ pháp lý), at most 300 characters.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add or change a row of the operator's table (audited); lists the open dossiers whose due date it would move,
    without moving them."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import calendar_edits

    d = parse_day(day, "DAY")
    with session_scope(engine(ctx)) as s:
        edit = calendar_edits.edit_day(s, d, kind, note, principal=principal(ctx, s), require_basis=False)
    if as_json:
        print_json(edit.model_dump(mode="json"))
        return
    console.print(f"{_day_text(d, lang(ctx))}: {tr(f'cal_{kind}', lang(ctx))}", highlight=False)
    _print_reviews(ctx, edit.reviews, d.isoformat())


@days_app.command("remove")
def days_remove(ctx: typer.Context, day: str, as_json: JsonOpt = False) -> None:
    """Remove a row of the operator's table (audited): the day follows the bundled table or the library again."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import calendar_edits

    d = parse_day(day, "DAY")
    with session_scope(engine(ctx)) as s:
        edit = calendar_edits.edit_day(s, d, None, None, principal=principal(ctx, s))
    if as_json:
        print_json(edit.model_dump(mode="json"))
        return
    language = lang(ctx)
    was = tr(f"cal_{edit.previous}", language) if edit.previous else "-"
    console.print(tr("cli_day_removed", language).format(_day_text(d, language), was), highlight=False)
    _print_reviews(ctx, edit.reviews, d.isoformat())


@days_app.command("list")
def days_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The days that differ from the weekday rule, with where each comes from: the operator's table, the bundled
    table of the civil service, or the library (24 November is shown unconfirmed until the operator decides)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import calendar_edits

    with session_scope(engine(ctx)) as s:
        rows = calendar_edits.calendar_table(s)
    if as_json:
        print_json(
            [
                {
                    "day": r.day.isoformat(),
                    "kind": r.kind,
                    "from": f"{r.source} (unconfirmed)" if r.unconfirmed else r.source,
                    "legal_basis": r.legal_basis,
                }
                for r in rows
            ]
        )
        return
    language = lang(ctx)
    print_table(
        table(language, "cal_day", "cal_kind", "cal_source", "legal_basis"),
        (
            [
                f"{r.day:%d/%m/%Y}" if language != "en" else r.day.isoformat(),
                tr(f"cal_{r.kind}", language),
                tr(f"cli_source_{r.source}", language)
                + (f" ({tr('cli_unconfirmed', language)})" if r.unconfirmed else ""),
                r.legal_basis or "-",
            ]
            for r in rows
        ),
    )


@calendar_app.command("dossiers")
def calendar_dossiers(
    ctx: typer.Context,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only the due dates waiting for a decision (else the decided too).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The open dossiers whose due date a calendar edit would move, and the decisions taken (those you see)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import calendar_edits

    with session_scope(engine(ctx)) as s:
        rows = calendar_edits.reviews(s, principal(ctx, s), pending_only=pending)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
    elif not rows:
        console.print(tr("cli_no_reviews", lang(ctx)), highlight=False)
    else:
        _review_table(lang(ctx), rows)


@calendar_app.command("decide")
def calendar_decide(
    ctx: typer.Context,
    code: Annotated[str | None, typer.Argument(help="The dossier's code; or --all.")] = None,
    move: Annotated[bool, typer.Option("--move", help="Move the due date to what the new calendar gives.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the due date given.")] = False,
    every: Annotated[bool, typer.Option("--all", help="Every due date waiting that you may decide.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Decide listed due dates (audited; a move is a step of the dossier): --move or --keep, one CODE or --all."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import calendar_edits

    if (code is None) != every:
        raise InvalidInput("give one dossier CODE or --all")
    if move == keep:
        raise InvalidInput("say --move (to the new calendar's due date) or --keep (the due date given)")
    decision = calendar_edits.Decision.MOVE if move else calendar_edits.Decision.KEEP
    with session_scope(engine(ctx)) as s:
        who = principal(ctx, s)
        if code is None:
            rows = calendar_edits.decide_all(s, decision, principal=who)
        else:
            rows = [calendar_edits.decide(s, code[:64], decision, principal=who)]
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
    elif not rows:
        console.print(tr("cli_no_reviews", lang(ctx)), highlight=False)
    else:
        _review_table(lang(ctx), rows)


# --- reports ------------------------------------------------------------------------------------------------


def reports_cmd(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from")],
    end: Annotated[str, typer.Option("--to")],
    center: Annotated[str | None, typer.Option("--center")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table (the default), json, csv or xlsx")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Decision 766 indicators per center for dossiers received in the period (a table; --json, or a file)."""
    from hopnhat.db import session_scope
    from hopnhat.settlement import reports, service

    with session_scope(engine(ctx)) as s:
        rows = service.report(
            s,
            parse_day(start, "--from"),
            parse_day(end, "--to"),
            service.load_calendar(s),
            center,
            principal(ctx, s),
        )
        names = _center_names(s)
    fmt = "json" if as_json else fmt.lower()
    if fmt == "table" and output is None:
        _report_table(lang(ctx), rows, names)
        return
    if fmt == "table":
        fmt = (output.suffix.lstrip(".") if output is not None else "") or "csv"
    data = reports.render(rows, fmt)
    if output is not None:
        output.write_bytes(data)
    elif fmt == "xlsx":
        raise InvalidInput("--format xlsx needs --output FILE")
    else:
        typer.echo(data.decode("utf-8"))


def _report_table(language: str, rows: list[ReportRow], names: dict[str, str]) -> None:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    print_table(
        table(
            language,
            "r766_center",
            "r766_received",
            "r766_finished",
            "cli_on_time",
            "cli_late",
            "cli_on_time_rate",
            "cli_avg_days",
            "cli_online",
            "cli_synced",
        ),
        (
            [
                short_center(names.get(r.center_code, r.center_code)),
                str(r.received),
                str(r.finished),
                str(r.early + r.on_time),
                str(r.late),
                share(r.on_time_rate),
                "-" if r.avg_working_days is None else f"{r.avg_working_days:.1f}",
                share(r.online_share),
                share(r.synced_share),
            ]
            for r in rows
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(processes_app, name="processes")
    app.add_typer(dossiers_app, name="dossiers")
    app.add_typer(calendar_app, name="calendar")
    app.command("reports")(reports_cmd)
