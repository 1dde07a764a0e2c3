"""``hopnhat registry ...`` and ``hopnhat agencies ...``: thin commands over :mod:`hopnhat.registry.service`.

Each command owns its transaction (one commit at the end) and takes ``--json`` for machine-readable output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so the store and the registry services
# are imported inside the commands that use them.
from hopnhat.cli_support import (
    console,
    count,
    engine,
    lang,
    parse_day,
    print_json,
    print_table,
    state,
    table,
    tr,
    value,
)
from hopnhat.errors import InvalidInput

if TYPE_CHECKING:
    from pydantic import BaseModel

    from hopnhat.files import FileLimits
    from hopnhat.registry.schemas import LineageOut

registry_app = typer.Typer(
    help="Administrative units of the whole country, before and after 2025-07-01: load, query, change, export.",
    no_args_is_help=True,
)
agencies_app = typer.Typer(
    help="Agencies and their identification codes (Decision 20/2020/QĐ-TTg).", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
OnOpt = Annotated[str | None, typer.Option("--on", help="Day asked about: YYYY-MM-DD or dd/mm/yyyy (default today).")]


def _limits(ctx: typer.Context) -> FileLimits:
    from hopnhat.files import FileLimits

    return FileLimits.from_settings(state(ctx).settings)


def _emit(data: BaseModel | Sequence[BaseModel] | Mapping[str, object], as_json: bool) -> bool:
    """Print ``data`` as JSON when asked; say whether it was printed."""
    from pydantic import BaseModel

    if not as_json:
        return False
    if isinstance(data, BaseModel):
        print_json(data.model_dump(mode="json"))
    elif isinstance(data, Mapping):
        print_json(dict(data))
    else:
        print_json([d.model_dump(mode="json") for d in data])
    return True


@registry_app.command("load")
def load(
    ctx: typer.Context,
    province: Annotated[
        list[str] | None,
        typer.Option(help="Only these new provinces and what formed them (repeat or comma list); default all."),
    ] = None,
    rule: Annotated[
        Path | None, typer.Option(help="Agency-code rule file (YAML/JSON); gives the group numbers not known.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the bundled units of the whole country, their lineage, the change sets shipped since, and the standing
    agencies of the province served (idempotent: a second run adds nothing)."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service
    from hopnhat.registry.codes import load_rule

    code_rule = load_rule(rule, _limits(ctx)) if rule is not None else None
    provinces = service.parse_provinces(province) if province else None
    with session_scope(engine(ctx)) as session:
        out = service.load(session, code_rule, provinces)
    if not _emit(out, as_json):
        language = lang(ctx)
        print_table(
            table(language, "cli_what", "cli_added", "cli_closed", "cli_in_registry"),
            [
                [tr("cli_units", language), str(out.units_added), str(out.units_closed), str(out.units_total)],
                [tr("cli_change_events", language), str(out.events_added), "-", "-"],
                [tr("cli_lineage_links", language), str(out.links_added), "-", "-"],
                [tr("cli_agencies", language), str(out.agencies_added), "-", str(out.agencies_total)],
            ],
        )
        if out.note:
            console.print(out.note, highlight=False, markup=False)


@registry_app.command("apply-changes")
def apply_changes(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Change-set CSV in the format of the bundled lineage table.")],
    effective: Annotated[str | None, typer.Option(help="Effective date when the file has no effective_date.")] = None,
    basis: Annotated[str | None, typer.Option(help="Legal basis when the file has no legal_basis column.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply a later change set; a malformed file is refused whole, naming each bad line."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service
    from hopnhat.registry.loader import read_change_file

    day = parse_day(effective, "--effective") if effective else None
    limits = _limits(ctx)
    text = read_change_file(file, limits)
    with session_scope(engine(ctx)) as session:
        out = service.apply_changes(session, text, effective=day, basis=basis, limits=limits)
    if not _emit(out, as_json):
        language = lang(ctx)
        print_table(
            table(language, "cli_what", "cli_value"),
            ([tr(f"cli_change_{k}", language), str(v)] for k, v in out.items()),
        )


@registry_app.command("show")
def show(ctx: typer.Context, code: str, on: OnOpt = None, as_json: JsonOpt = False) -> None:
    """The unit that bore CODE on the day."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on)
    with session_scope(engine(ctx)) as session:
        unit = service.unit_out(service.show(session, code, day))
    if not _emit(unit, as_json):
        language = lang(ctx)
        console.print(
            tr("cli_unit_line", language).format(
                unit.code,
                unit.name,
                value(unit.level, language),
                unit.parent_code or "-",
                _day(unit.valid_from, language),
                _day(unit.valid_to, language) if unit.valid_to else tr("cli_today", language),
            ),
            highlight=False,
        )


def _day(day: object, language: str) -> str:
    from datetime import date

    if isinstance(day, date):
        return f"{day:%d/%m/%Y}" if language != "en" else day.isoformat()
    return str(day or "-")


def _print_lineage(out: LineageOut, title: str) -> None:
    language = lang()
    u = out.unit
    until = _day(u.valid_to, language) if u.valid_to else tr("cli_today", language)
    console.print(
        f"{tr(f'cli_{title}', language)}: {u.code} {u.name} ({_day(u.valid_from, language)} - {until})",
        highlight=False,
    )
    links = out.successors if out.successors is not None else out.predecessors or []
    if not links:
        console.print(f"  {tr('cli_none', language)}", highlight=False)
        return
    print_table(
        table(language, "cli_code", "cli_name", "cli_kind", "cli_event", "cli_effective"),
        (
            [
                link.unit.code if link.unit else "-",
                link.unit.name if link.unit else tr("cli_no_successor", language),
                value(link.kind, language),
                value(link.event, language),
                _day(link.effective_date, language),
            ]
            for link in links
        ),
    )


@registry_app.command("successors")
def successors(ctx: typer.Context, code: str, on: OnOpt = None, as_json: JsonOpt = False) -> None:
    """Where the unit went (whole, part, unchanged). Without --on: the last period of CODE that ended."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on) if on is not None else None
    with session_scope(engine(ctx)) as session:
        out = service.successors(session, code, day)
    if not _emit(out, as_json):
        _print_lineage(out, "successors")


@registry_app.command("predecessors")
def predecessors(ctx: typer.Context, code: str, on: OnOpt = None, as_json: JsonOpt = False) -> None:
    """Where the unit came from. Without --on: the newest period of CODE."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on) if on is not None else None
    with session_scope(engine(ctx)) as session:
        out = service.predecessors(session, code, day)
    if not _emit(out, as_json):
        _print_lineage(out, "predecessors")


@registry_app.command("search")
def search(
    ctx: typer.Context,
    text: str,
    on: OnOpt = None,
    level: Annotated[str | None, typer.Option(help="province, district or commune.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many hits (1-100).")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Units whose name is close to TEXT (diacritics, case and small typos do not matter), best first."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on)
    with session_scope(engine(ctx)) as session:
        out = service.search(session, text, day, level=level, limit=limit)
    if _emit(out, as_json):
        return
    language = lang(ctx)
    print_table(
        table(language, "cli_code", "cli_name", "cli_level", "cli_parent", "cli_score"),
        (
            [
                hit.unit.code,
                hit.unit.name,
                value(hit.unit.level, language),
                (f"{hit.unit.parent_code} {hit.parent_name or ''}" if hit.unit.parent_code else "-").strip(),
                f"{hit.score:.0f}",
            ]
            for hit in out.hits
        ),
    )


@registry_app.command("stats")
def stats(
    ctx: typer.Context,
    province: Annotated[list[str], typer.Option(help="Province code; repeat it or give a comma list (92,93,94).")],
    on: OnOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts of units by level and type on the day."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on)
    with session_scope(engine(ctx)) as session:
        out = service.stats(session, province, day)
    if _emit(out, as_json):
        return
    language = lang(ctx)
    console.print(
        tr("cli_stats_title", language).format(", ".join(out.provinces), _day(out.on, language)), highlight=False
    )
    t = table(language, "cli_level", "cli_type", "cli_units")
    for level, types in out.by_level_and_type.items():
        for type_, n in types.items():
            t.add_row(value(level, language), type_, str(n))
        t.add_row(value(level, language), tr("cli_all", language), str(out.by_level[level]), style="bold")
    t.add_row(tr("cli_total", language), "", str(out.total), style="bold")
    console.print(t, highlight=False)


@registry_app.command("export")
def export(
    ctx: typer.Context,
    on: OnOpt = None,
    format: Annotated[str, typer.Option("--format", help="csv, json or xlsx.")] = "json",
    table: Annotated[
        str,
        typer.Option(help="all, units, lineage, or changes (change sets since --since)."),
    ] = "all",
    output: Annotated[
        Path | None, typer.Option(help="File to write (needed for xlsx, and for csv of both tables).")
    ] = None,
    province: Annotated[
        list[str] | None, typer.Option(help="Only these provinces (repeat it or give a comma list); default all.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="With --table changes: changes effective after this day (default 2025-07-01)."),
    ] = None,
) -> None:
    """Units active on the day and the lineage in force by then. CSV of both tables writes OUTPUT (units) and
    OUTPUT with .lineage before the suffix. ``--table changes --format csv`` writes a change-set file."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on)
    if format == "xlsx" and output is None:
        raise InvalidInput("xlsx is binary: give --output FILE.xlsx")
    after = parse_day(since, "--since") if since else service.REFORM_DATE
    with session_scope(engine(ctx)) as session:
        rows = service.export_rows(session, day, province or None, after)
    if format == "csv" and table == "all":
        if output is None:
            raise InvalidInput("CSV holds one table: give --table units or --table lineage, or --output FILE.csv")
        lineage_path = output.with_name(f"{output.stem}.lineage{output.suffix or '.csv'}")
        _write(output, service.render_export(rows, "csv", "units", day))
        _write(lineage_path, service.render_export(rows, "csv", "lineage", day))
        console.print(
            f"wrote {len(rows['units'])} units to {output} and {len(rows['lineage'])} links to {lineage_path}"
        )
        return
    body = service.render_export(rows, format, table, day)
    if output is None:
        typer.echo(body.decode("utf-8"), nl=False)
        return
    _write(output, body)
    console.print(f"wrote {output} ({len(rows['units'])} units, {len(rows['lineage'])} lineage links)")


def _write(path: Path, body: bytes) -> None:
    try:
        path.write_bytes(body)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc.strerror})") from None


@agencies_app.command("issue")
def issue(
    ctx: typer.Context,
    rule: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON file overriding the default rule; keys: city_group, old_province_groups, departments, "
            "provincial_center, district_first_level2, commune_groups, center_level4, reserved."
        ),
    ] = None,
    decision: Annotated[str | None, typer.Option(help="Number of the issuing decision.")] = None,
    date_: Annotated[str | None, typer.Option("--date", help="Issuing date (default today).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue codes to every current commune's People's Committee and service center that has none (idempotent;
    a code is never reused). Default rule: committees 000.NN.60.H13 (groups 60, 61, ... in commune-code order),
    each commune's center 001.NN.GG.H13 under its committee."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service
    from hopnhat.registry.codes import load_rule

    code_rule = load_rule(rule, _limits(ctx))
    day = parse_day(date_, "--date")
    with session_scope(engine(ctx)) as session:
        out = service.issue_codes(session, code_rule, issued_on=day, decision=decision)
    if _emit(out, as_json):
        return
    language = lang(ctx)
    if out.issued:
        print_table(table(language, "cli_code", "cli_name"), ([i.code, i.agency_name] for i in out.issued))
    console.print(
        tr("cli_codes_issued", language).format(
            count(len(out.issued), "cli_n_codes", language), out.rule, out.already_issued
        ),
        markup=False,
        highlight=False,
    )
    if out.closed:
        console.print(
            tr("cli_codes_closed", language).format(
                count(len(out.closed), "cli_n_codes", language), ", ".join(out.closed)
            ),
            highlight=False,
        )


@agencies_app.command("show")
def show_agency(ctx: typer.Context, code: str, on: OnOpt = None, as_json: JsonOpt = False) -> None:
    """An agency code, old or current, and the agency that carries its work on the day."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on)
    with session_scope(engine(ctx)) as session:
        out = service.resolve_agency(session, code, day)
    if _emit(out, as_json):
        return
    language = lang(ctx)
    a, c = out.asked, out.current
    until = _day(a.valid_to, language) if a.valid_to else tr("cli_today", language)
    console.print(
        f"{a.code} {a.name} ({value(a.kind, language)}; {_day(a.valid_from, language)} - {until})", highlight=False
    )
    if c.code != a.code:
        console.print(
            tr("cli_carried_by", language).format(_day(out.on, language), c.code, c.name, " -> ".join(out.path)),
            highlight=False,
        )


@agencies_app.command("contact")
def contact(
    ctx: typer.Context,
    code: str,
    address: Annotated[str | None, typer.Option(help="The agency's address (empty text clears it).")] = None,
    phone: Annotated[str | None, typer.Option(help="The phone citizens call (empty text clears it).")] = None,
) -> None:
    """Set a center's address and phone: the citizen's lookup and the printed slips show them."""
    from hopnhat.cli_support import audited
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    with session_scope(engine(ctx)) as session:
        agency = service.set_agency_contact(session, code, address=address, phone=phone)
        audited(ctx, session, "agency.contact", "agency", agency.code, {"address": address, "phone": phone})
        console.print(f"{agency.code}  {agency.name}: {agency.address or '-'}; {agency.phone or '-'}", highlight=False)


@agencies_app.command("list")
def list_agencies(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--on", help="Only agencies open on that day.")] = None,
    kind: Annotated[str | None, typer.Option(help="people_committee, department, service_center, other.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Agencies with their codes."""
    from hopnhat.db import session_scope
    from hopnhat.registry import service

    day = parse_day(on) if on is not None else None
    with session_scope(engine(ctx)) as session:
        out = service.list_agencies(session, day=day, kind=kind)
    if _emit(out, as_json):
        return
    # Codes must stay whole on a narrow terminal (a cut code is useless): the names wrap instead.
    language = lang(ctx)
    t = table(language, "cli_code", "cli_name", "cli_kind", "cli_unit", "cli_valid", "cli_successor")
    t.columns[5].no_wrap = True
    for a in out:
        until = _day(a.valid_to, language) if a.valid_to else "-"
        t.add_row(
            a.code,
            a.name,
            value(a.kind, language),
            a.unit_code or "-",
            f"{_day(a.valid_from, language)} - {until}",
            a.successor_code or "-",
        )
    console.print(t, highlight=False)
    console.print(count(len(out), "cli_n_agencies", language), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
    app.add_typer(agencies_app, name="agencies")


__all__ = ["register"]
