"""Commands ``monitor``, ``systems``, ``plan`` and ``centers``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so the store and the continuity services
# (YAML, openpyxl, httpx probes) are imported inside the commands that use them.
from hopnhat.cli_support import (
    as_service,
    audited,
    console,
    count,
    engine,
    lang,
    local_time,
    parse_day,
    print_json,
    print_table,
    reason,
    short_center,
    state,
    table,
    tr,
    value,
)

if TYPE_CHECKING:
    from hopnhat.files import FileLimits

systems_app = typer.Typer(help="The inventory of shared systems and their health.", no_args_is_help=True)
plan_app = typer.Typer(help="The transition plan.", no_args_is_help=True)
centers_app = typer.Typer(help="Public Administration Service Centers and their readiness.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    return path


def _limits(ctx: typer.Context) -> FileLimits:
    from hopnhat.files import FileLimits

    return FileLimits.from_settings(state(ctx).settings)


def monitor_cmd(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run every enabled probe once and exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.5, help="Seconds between cycles.")] = 15.0,
    as_json: JsonOpt = False,
) -> None:
    """Run the health probes on schedule (Ctrl-C stops)."""
    from hopnhat.continuity import monitor
    from hopnhat.continuity.netguard import AllowList

    eng = engine(ctx)
    allow = AllowList.parse(state(ctx).settings.probe_allowed_networks)
    if once:
        report = monitor.run_cycle(eng, force=True, allow=allow)
        if as_json:
            print_json([{"probe": name, "up": ok, "detail": detail} for name, ok, detail in report])
            return
        language = lang(ctx)
        print_table(
            table(language, "cli_probe", "state", "detail"),
            ([name, value("up" if ok else "down", language), reason(detail, language)] for name, ok, detail in report),
        )
        console.print(tr("cli_probes_run", language).format(count(len(report), "cli_n_probes", language)))
        return
    from hopnhat.ops.stopping import stop_on_signals

    as_service(ctx)
    console.print(f"monitor running every {interval:g} s (Ctrl-C stops)")
    with stop_on_signals() as stop:  # SIGTERM: the current cycle ends and is recorded, then the command exits 0
        monitor.run_forever(eng, interval, stop=stop, allow=allow)
    console.print("monitor stopped")


@systems_app.command("import")
def systems_import(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="YAML or CSV inventory.")] = None,
    example: Annotated[bool, typer.Option("--example", help="Load the bundled EXAMPLE inventory.")] = False,
) -> None:
    """Load (upsert by code) systems from a file, or the bundled example."""
    from hopnhat.continuity import inventory
    from hopnhat.db import session_scope

    if file is None and not example:
        raise typer.BadParameter("give a FILE or --example")
    with session_scope(engine(ctx)) as session:
        n, p = (
            inventory.load_example(session)
            if file is None
            else inventory.load_file(session, _existing(file), _limits(ctx))
        )
        source = file.name if file is not None else "example"
        audited(ctx, session, "systems.import", "file", source, {"systems": [None, n], "probes": [None, p]})
    language = lang(ctx)
    loaded = f"{count(n, 'cli_n_systems', language)}, {count(p, 'cli_n_probes', language)}"
    console.print(
        tr("cli_loaded", language).format(loaded) + (f" ({tr('cli_example', language)})" if file is None else ""),
        highlight=False,
    )


@systems_app.command("list")
def systems_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The inventory."""
    from hopnhat.continuity import service
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        rows = [
            {
                "code": s.code,
                "name": s.name,
                "province": s.former_province,
                "criticality": s.criticality,
                "decision": s.decision,
                "target": s.target_system,
                "target_date": s.target_date,
                "status": s.status,
            }
            for s in service.list_systems(session)
        ]
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    print_table(
        table(language, "cli_code", "cli_name", "cli_province", "criticality", "decision", "target_system", "status"),
        (
            [
                str(r["code"]),
                str(r["name"]),
                str(r["province"] or "-"),
                value(r["criticality"], language),
                value(r["decision"], language),
                str(r["target"] or "-"),
                value(r["status"], language),
            ]
            for r in rows
        ),
    )


@systems_app.command("status")
def systems_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Up / down / unknown per system, from the last probe results and open incidents."""
    from hopnhat.continuity import service
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        rows = [s.__dict__ for s in service.system_status(session)]
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    print_table(
        table(language, "cli_code", "state", "last_check", "detail"),
        (
            [
                r["code"],
                value(r["state"], language),
                local_time(r["last_check"], language),
                reason(r["detail"], language),
            ]
            for r in rows
        ),
    )


@systems_app.command("maintenance")
def systems_maintenance(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="System code.")],
    starts: Annotated[str, typer.Option("--from", help="Start, ISO with offset, e.g. 2025-07-01T22:00+07:00.")],
    ends: Annotated[str, typer.Option("--to", help="End, ISO with offset.")],
    reason: Annotated[str, typer.Option(help="Why (shown next to the uptime).")] = "",
) -> None:
    """Plan a maintenance window: failures inside it open no incident."""
    from datetime import datetime

    from hopnhat.continuity import service
    from hopnhat.db import session_scope
    from hopnhat.errors import InvalidInput

    try:
        start_at, end_at = datetime.fromisoformat(starts), datetime.fromisoformat(ends)
    except ValueError:
        raise InvalidInput("maintenance: --from/--to must be ISO date-times, e.g. 2025-07-01T22:00+07:00") from None
    with session_scope(engine(ctx)) as session:
        window = service.add_maintenance(session, code, start_at, end_at, reason)
    console.print(tr("cli_maintenance_recorded", lang(ctx)).format(window.id, code), highlight=False)


@systems_app.command("heartbeat")
def systems_heartbeat(ctx: typer.Context, name: str) -> None:
    """Report that the job NAME is alive (for cron jobs without API access)."""
    from hopnhat.continuity import service
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        service.report_heartbeat(session, name)
    console.print(tr("cli_heartbeat_recorded", lang(ctx)).format(name), highlight=False)


def _print_tasks(ctx: typer.Context, rows: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    if not rows:
        console.print(tr("cli_no_tasks", language), highlight=False)
        return
    print_table(
        table(language, "cli_code", "deadline", "status", "title", "cli_flags"),
        (
            [
                str(r["code"]),
                _day(r["deadline"], language),
                value(r["status"], language),
                str(r["title"]),
                tr("cli_overdue", language) if r["overdue"] else tr("cli_at_risk", language) if r["at_risk"] else "",
            ]
            for r in rows
        ),
    )
    console.print(count(len(rows), "cli_n_tasks", language), highlight=False)


def _day(day: object, language: str) -> str:
    from datetime import date

    if isinstance(day, date):
        return f"{day:%d/%m/%Y}" if language != "en" else day.isoformat()
    return str(day or "-")


@plan_app.command("import")
def plan_import(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="CSV: code,title,responsible_unit,deadline,status,depends_on,cutover_source")
    ] = None,
    example: Annotated[bool, typer.Option("--example", help="Load the bundled EXAMPLE plan.")] = False,
) -> None:
    """Load (upsert by code) plan tasks."""
    from hopnhat.continuity import inventory, plan
    from hopnhat.db import session_scope
    from hopnhat.files import read_text

    if file is None and not example:
        raise typer.BadParameter("give a FILE or --example")
    limits = _limits(ctx)
    text = inventory.data_text("plan_example.csv") if file is None else read_text(_existing(file), limits)
    with session_scope(engine(ctx)) as session:
        n = plan.import_csv(session, text, limits)
        audited(ctx, session, "plan.import", "file", file.name if file is not None else "example", {"tasks": [None, n]})
    console.print(tr("cli_loaded", lang(ctx)).format(count(n, "cli_n_tasks", lang(ctx))), highlight=False)


@plan_app.command("list")
def plan_list(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--on", help="Evaluate as of this day (default today).")] = None,
    horizon: Annotated[int, typer.Option(min=0, help="Days ahead that count as at risk.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Every task with overdue / at-risk flags."""
    from hopnhat.continuity import plan
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        rows = plan.evaluate(session, parse_day(on), horizon)
    _print_tasks(ctx, rows, as_json)


@plan_app.command("overdue")
def plan_overdue(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--on", help="Evaluate as of this day (default today).")] = None,
    horizon: Annotated[int, typer.Option(min=0, help="Days ahead that count as at risk.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Overdue and at-risk tasks."""
    from hopnhat.continuity import plan
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        rows = [r for r in plan.evaluate(session, parse_day(on), horizon) if r["overdue"] or r["at_risk"]]
    _print_tasks(ctx, rows, as_json)


@centers_app.command("seed")
def centers_seed(ctx: typer.Context) -> None:
    """Create the provincial center and the 103 commune centers, and the bundled required-equipment list, and fill
    in the centers' agency codes from the registry. Run it again after `hopnhat agencies issue` to add the codes."""
    from hopnhat.continuity import centers
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        result = centers.seed(session)
        centers.seed_requirements(session)
    language = lang(ctx)
    console.print(
        tr("cli_centers_seeded", language).format(
            count(result.created, "cli_n_centers", language), count(result.linked, "cli_n_codes", language)
        ),
        highlight=False,
    )
    if result.without_agency_code:
        console.print(
            tr("cli_centers_without_code", language).format(
                count(result.without_agency_code, "cli_n_centers", language)
            ),
            highlight=False,
        )


@centers_app.command("import")
def centers_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or XLSX (one table per sheet; kind from the headers).")],
) -> None:
    """Bulk import centers, staff, equipment, regulations or the required-equipment list."""
    from hopnhat.continuity import centers
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        results = centers.import_file(session, _existing(file), _limits(ctx))
    language = lang(ctx)
    for kind, n in results:
        console.print(
            f"{kind}: {tr('cli_imported', language).format(count(n, 'cli_n_rows', language))}", highlight=False
        )


@centers_app.command("list")
def centers_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The centers."""
    from hopnhat.continuity import repository as repo
    from hopnhat.db import session_scope

    with session_scope(engine(ctx)) as session:
        rows = [
            {"code": c.code, "agency_code": c.agency_code, "name": c.name, "level": c.level, "address": c.address}
            for c in repo.centers(session)
        ]
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    print_table(
        table(language, "cli_code", "cli_agency_code", "cli_level", "cli_name", "cli_address"),
        (
            [str(r["code"]), r["agency_code"] or "-", value(r["level"], language), str(r["name"]), r["address"] or "-"]
            for r in rows
        ),
    )
    console.print(count(len(rows), "cli_n_centers", language), highlight=False)


@centers_app.command("readiness")
def centers_readiness(
    ctx: typer.Context,
    staff_by: Annotated[str, typer.Option(help="Deadline of the staff lists.")] = "2025-06-30",
    regulation_by: Annotated[str, typer.Option(help="Deadline of the operating regulations.")] = "2025-07-10",
    center: Annotated[str | None, typer.Option(help="Only this center (commune code or agency code).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Readiness per center: one line each (staff list, regulation, equipment); --center CODE for its reasons."""
    from hopnhat.continuity import centers
    from hopnhat.db import session_scope

    rules = centers.ReadinessRules(parse_day(staff_by, "--staff-by"), parse_day(regulation_by, "--regulation-by"))
    with session_scope(engine(ctx)) as session:
        rows = centers.readiness(session, rules, center)
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    if center is not None:
        _readiness_detail(language, rows[0])
        return

    def mark(ok: bool) -> str:
        return tr("cli_ok", language) if ok else tr("cli_missing", language)

    print_table(
        table(language, "cli_code", "cli_center", "cli_ready", "cli_staff", "cli_regulation", "cli_equipment"),
        (
            [
                r["code"],
                short_center(r["name"]),
                value(r["ready"], language),
                mark(r["staff_ok"]),
                mark(r["regulation_ok"]),
                mark(r["equipment_ok"]),
            ]
            for r in rows
        ),
    )
    ready = sum(bool(r["ready"]) for r in rows)
    console.print(
        tr("cli_centers_ready", language).format(ready, count(len(rows), "cli_n_centers", language)), highlight=False
    )


def _readiness_detail(language: str, row: dict[str, Any]) -> None:
    """One center's readiness, each missing item on its own line."""
    console.print(f"{row['code']}  {row['name']}", highlight=False)
    console.print(f"{tr('cli_ready', language)}: {value(row['ready'], language)}", highlight=False)
    regulation = row["regulation"]
    print_table(
        table(language, "cli_item", "state", "detail"),
        [
            [tr("cli_staff", language), value(row["staff_ok"], language), str(row["staff_count"])],
            [
                tr("cli_regulation", language),
                value(row["regulation_ok"], language),
                f"{regulation['number']} ({_day(regulation['issued_on'], language)})" if regulation else "-",
            ],
            [
                tr("cli_equipment", language),
                value(row["equipment_ok"], language),
                ", ".join(row["missing_equipment"]) or "-",
            ],
        ],
    )
    for why in row["reasons"]:
        console.print(f"- {reason(why, language)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor_cmd)
    app.add_typer(systems_app, name="systems")
    app.add_typer(plan_app, name="plan")
    app.add_typer(centers_app, name="centers")
