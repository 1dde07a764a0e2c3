"""Commands: ``sync run|runs|quarantine``, ``reconcile``, ``cutover check``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so the store, the connectors and their
# clients are imported inside the commands that use them (an incremental sync run is short; start-up counts).
from hopnhat.cli_support import (
    as_service,
    console,
    count,
    engine,
    err_console,
    lang,
    print_json,
    print_table,
    reason,
    table,
    tr,
    value,
)
from hopnhat.errors import NotFound

sync_app = typer.Typer(help="Consolidate the legacy systems into the store.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Records the sync rejected, with their reasons.", no_args_is_help=True)
cutover_app = typer.Typer(help="The cut-over gate.", no_args_is_help=True)
sources_app = typer.Typer(help="Sources as configuration: draft a mapping, dry-run it.", no_args_is_help=True)
sync_app.add_typer(quarantine_app, name="quarantine")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="sources.toml")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Only this source.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        help="Sources synced at once, each in its own process (0: one per source, at most 8; 1: one after another).",
    ),
]


def jobs_for(config: dict[str, dict[str, Any]], jobs: int) -> int:
    return jobs if jobs > 0 else min(len(config), 8)


def run_with_progress(
    ctx: typer.Context,
    config: dict[str, dict[str, Any]],
    *,
    dry_run: bool,
    full: bool,
    quiet: bool,
    jobs: int = 0,
    rebind: bool = False,
) -> dict[str, dict[str, Any]]:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from hopnhat.sync import service

    # No refresh thread: the sources' processes are forked from this one, and a fork must not happen while another
    # thread may hold a lock (the terminal's). The bars are redrawn at every batch report instead.
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} records"),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        auto_refresh=False,
    ) as bar:
        tasks = {name: bar.add_task(name, total=None) for name in config}

        def advance(source: str, n: int) -> None:
            bar.advance(tasks[source], n)
            bar.refresh()

        _, results = service.run(
            engine(ctx),
            config,
            dry_run=dry_run,
            full=full,
            progress=advance,
            jobs=jobs_for(config, jobs),
            rebind=rebind,
        )
    return results


def print_results(results: dict[str, dict[str, Any]]) -> None:
    """The six counts of a run per source, for people (``--json`` prints them for scripts)."""
    from hopnhat.sync.load import COUNT_KEYS

    language = lang()
    print_table(
        table(language, "cli_source", "state", *(f"cli_count_{k}" for k in COUNT_KEYS)),
        ([name, value(r["state"], language), *(str(r.get(k, "")) for k in COUNT_KEYS)] for name, r in results.items()),
    )
    for r in results.values():
        if r.get("error"):
            err_console.print(r["error"], highlight=False, markup=False)


def _short_time(iso: str | None, language: str) -> str:
    """A run's start (stored as an ISO string) in Vietnam time."""
    if not iso:
        return "-"
    from datetime import UTC

    from hopnhat.config import VN_TZ

    at = datetime.fromisoformat(iso)
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(VN_TZ)  # the store keeps UTC
    return f"{at:%d/%m/%Y %H:%M}" if language != "en" else f"{at:%Y-%m-%d %H:%M}"


RECONCILE_KEYS = ("source_rows", "store_rows", "missing", "extra", "changed", "quarantined_open")


def print_reconcile(report: dict[str, dict[str, Any]]) -> None:
    """Each source against the store, one line a source."""
    language = lang()
    print_table(
        table(language, "cli_source", *(f"cli_rec_{k}" for k in RECONCILE_KEYS)),
        ([name, *("-" if r.get(k) is None else str(r[k]) for k in RECONCILE_KEYS)] for name, r in report.items()),
    )


def print_verdicts(verdicts: dict[str, dict[str, Any]]) -> None:
    """The cut-over verdict of each source and every reason it is not ready, in the reader's language."""
    language = lang()
    for name, v in verdicts.items():
        console.print(
            f"{name}: {tr('cli_verdict_ready' if v['ready'] else 'cli_not_ready', language)}", highlight=False
        )
        for why in v["reasons"]:
            console.print(f"  - {reason(why, language)}", highlight=False, markup=False)


@sync_app.command("run")
def run_cmd(
    ctx: typer.Context,
    config: ConfigOpt,
    source: SourceOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything, write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Ignore the cursor and read each source whole.")] = False,
    as_json: JsonOpt = False,
    jobs: JobsOpt = 0,
    watch: Annotated[
        float,
        typer.Option(
            "--watch",
            min=0,
            metavar="SECONDS",
            help="Stay resident and run again every SECONDS (from one start to the next) until stopped: SIGTERM "
            "ends it after the current run, Ctrl-C at once. With --json, one line per run.",
        ),
    ] = 0,
    runs: Annotated[int, typer.Option("--runs", min=0, help="With --watch: stop after this many runs (0: never).")] = 0,
    yes: Annotated[
        bool, typer.Option("--yes", help="With --full: bind known source names to the systems the config points at.")
    ] = False,
) -> None:
    """Sync every source (or one); exit 1 when a source failed or a whole file could not be read (in the last run,
    with --watch), the others are still synced."""
    from hopnhat.sync import service

    if runs and not watch:
        raise typer.BadParameter("--runs goes with --watch", param_hint="--runs")
    sources = service.pick(service.load_config(config), source)
    rebind = False
    if full:
        conflicts = service.identity_conflicts(engine(ctx), sources)
        for name, change in conflicts.items():
            err_console.print(f"source {name} was {change}")
        if conflicts and not yes and not typer.confirm("Bind these names to the systems the config points at?"):
            raise typer.Exit(1)
        rebind = bool(conflicts)
    if watch <= 0:
        results = run_with_progress(ctx, sources, dry_run=dry_run, full=full, quiet=as_json, jobs=jobs, rebind=rebind)
        _show(results, as_json, compact=False)
    else:
        results = _watch(ctx, sources, every=watch, runs=runs, dry_run=dry_run, full=full, as_json=as_json, jobs=jobs)
    if any(r["state"] != "done" or r.get("warnings") for r in results.values()):
        raise typer.Exit(1)


def _show(results: dict[str, dict[str, Any]], as_json: bool, *, compact: bool) -> None:
    from hopnhat.sync.load import COUNT_KEYS

    if not as_json:
        print_results(results)
        return
    counts = {name: {k: r.get(k, 0) for k in COUNT_KEYS} for name, r in results.items()}
    if compact:
        typer.echo(json.dumps(counts, ensure_ascii=False))
    else:
        print_json(counts)
    for r in results.values():
        if r.get("error"):
            err_console.print(r["error"])


def _watch(
    ctx: typer.Context,
    sources: dict[str, dict[str, Any]],
    *,
    every: float,
    runs: int,
    dry_run: bool,
    full: bool,
    as_json: bool,
    jobs: int,
) -> dict[str, dict[str, Any]]:
    """Run after run in this one process, through the parallel run: Python and the imports (most of a short
    incremental run's time) are paid once instead of once per run. A run that fails (a source down, the store
    unreachable for a moment) does not end the watch; the next run tries again. SIGTERM (a service manager
    stopping it) lets the current run finish and record its accounting, a second SIGTERM stops at once; forked
    source processes inherit the first behaviour and die with this process. Ctrl-C stops at once, which is as safe
    as a kill: a batch and the cursor commit together."""
    import signal
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from hopnhat.errors import HopnhatError

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    as_service(ctx)
    results: dict[str, dict[str, Any]] = {}
    done = 0
    try:
        while not stopping:
            started = time.monotonic()
            try:
                results = run_with_progress(ctx, sources, dry_run=dry_run, full=full, quiet=as_json, jobs=jobs)
                _show(results, as_json, compact=True)
            except (SQLAlchemyError, HopnhatError, OSError) as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                err_console.print(f"run {done + 1} failed: {message}")
                results = {name: {"state": "failed", "error": message} for name in sources}
            done += 1
            if runs and done >= runs:
                break
            wake = started + every
            if not as_json:
                err_console.print(f"run {done} done; the next in {max(0.0, wake - time.monotonic()):.0f} s")
            while not stopping and time.monotonic() < wake:
                time.sleep(min(0.2, max(0.0, wake - time.monotonic())))
    finally:
        signal.signal(signal.SIGTERM, previous)
    return results


@sync_app.command("runs")
def runs_cmd(ctx: typer.Context, limit: int = 20, as_json: JsonOpt = False) -> None:
    """Recent runs with their accounting per source."""
    from sqlalchemy.orm import Session

    from hopnhat.sync import service
    from hopnhat.sync.load import COUNT_KEYS

    with Session(engine(ctx)) as session:
        found = service.runs(session, limit)
    if as_json:
        print_json(found)
        return
    language = lang(ctx)
    if not found:
        console.print(tr("cli_no_runs", language), highlight=False)
        return
    # One heading per run and its sources below it: ten columns would not fit in 80.
    for r in found:
        sources: dict[str, dict[str, Any]] = r["sources"] or {}
        console.print(
            f"[bold]{tr('cli_run', language)} {r['id']}[/]  {_short_time(r['started_at'], language)}  "
            f"{value(r['state'], language)}",
            highlight=False,
        )
        if r.get("reason"):
            err_console.print(str(r["reason"]), highlight=False, markup=False)
        print_table(
            table(language, "cli_source", "state", *(f"cli_count_{k}" for k in COUNT_KEYS)),
            (
                [name, value(s.get("state"), language), *(str(s.get(k, "")) for k in COUNT_KEYS)]
                for name, s in sources.items()
            ),
        )


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context, source: SourceOpt = None, state: str | None = "open", limit: int = 100, as_json: JsonOpt = False
) -> None:
    """Quarantined records (reasons only; the payload with personal data is shown by ``show``)."""
    from sqlalchemy.orm import Session

    from hopnhat.sync import repository

    with Session(engine(ctx)) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": q.id,
                "source": q.source,
                "source_id": q.source_id,
                "state": q.state,
                "reasons": q.reasons,
                "run_id": q.run_id,
            }
            for q in repository.quarantine_list(session, source, state or None, limit)
        ]
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    if not rows:
        console.print(tr("cli_no_quarantine", language), highlight=False)
        return
    print_table(
        table(language, "cli_id", "cli_source", "source_id", "state", "cli_reasons"),
        (
            [
                str(r["id"]),
                str(r["source"]),
                str(r["source_id"]),
                value(r["state"], language),
                "; ".join(reason(x, language) for x in r["reasons"]),
            ]
            for r in rows
        ),
    )
    console.print(count(len(rows), "cli_n_records", language), highlight=False)


CITIZEN_ID_KEYS = ("applicant_id_number", "SoCCCD", "Số CCCD", "so_giay_to", "so_cccd", "cccd")
"""Keys under which the former systems' payloads carry the applicant's ID number (for the audit's citizen index)."""


@quarantine_app.command("show")
def quarantine_show(ctx: typer.Context, record_id: int) -> None:
    """One quarantined record with its raw payload (data stewards only: it holds personal data)."""
    from sqlalchemy.orm import Session

    from hopnhat.cli_support import principal
    from hopnhat.identity import audit
    from hopnhat.identity.roles import Permission
    from hopnhat.sync.models import QuarantinedRecord

    with Session(engine(ctx)) as session:
        who = principal(ctx, session)
        who.require(Permission.QUARANTINE)
        q = session.get(QuarantinedRecord, record_id)
        if q is None:
            raise NotFound(f"quarantined record {record_id} does not exist")
        payload = q.payload if isinstance(q.payload, dict) else {}
        citizen = next((str(payload[k]) for k in CITIZEN_ID_KEYS if payload.get(k)), None)
        audit.record(session, who, "quarantine.view", object_type="quarantine", object_id=str(q.id), citizen_id=citizen)
        session.commit()  # the view is recorded before the payload is shown
        print_json(
            {
                "id": q.id,
                "source": q.source,
                "source_id": q.source_id,
                "state": q.state,
                "reasons": q.reasons,
                "run_id": q.run_id,
                "payload": q.payload,
            }
        )


@quarantine_app.command("replay")
def quarantine_replay(
    ctx: typer.Context, config: ConfigOpt, source: SourceOpt = None, as_json: JsonOpt = False
) -> None:
    """Re-read the sources whole (after a mapping fix or corrected source rows): records now clean are loaded and
    their quarantine entries resolved."""
    from sqlalchemy.orm import Session

    from hopnhat.sync import repository, service
    from hopnhat.sync.load import COUNT_KEYS

    results = run_with_progress(
        ctx, service.pick(service.load_config(config), source), dry_run=False, full=True, quiet=as_json
    )
    with Session(engine(ctx)) as session:
        left = {name: repository.open_quarantine_count(session, name) for name in results}
    if as_json:
        print_json(
            {name: {**{k: r.get(k, 0) for k in COUNT_KEYS}, "still_open": left[name]} for name, r in results.items()}
        )
    else:
        print_results(results)
        still = ", ".join(f"{k} {count(v, 'cli_n_records', lang(ctx))}" for k, v in left.items())
        console.print(tr("cli_still_quarantined", lang(ctx)).format(still), highlight=False)


def reconcile_cmd(
    ctx: typer.Context,
    config: ConfigOpt,
    source: SourceOpt = None,
    as_json: JsonOpt = False,
    html_file: Annotated[Path | None, typer.Option("--html", help="Also write an HTML report here.")] = None,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Normalise every source record again (after a registry correction or a new mapping rule)."
        ),
    ] = False,
    jobs: JobsOpt = 0,
) -> None:
    """Each source against the store: missing, extra and changed ids; counts by status, unit and month."""
    from sqlalchemy.orm import Session

    from hopnhat.config import VN_TZ
    from hopnhat.sync import service
    from hopnhat.sync.reconcile import reconcile, render_html

    with Session(engine(ctx)) as session:
        today = datetime.now(VN_TZ).date()
        sources = service.pick(service.load_config(config), source)
        report = reconcile(session, sources, today, deep=deep, jobs=jobs_for(sources, jobs))
    if html_file is not None:
        html_file.write_text(render_html(report), encoding="utf-8")
    if as_json:
        print_json(report)
        return
    print_reconcile(report)


@cutover_app.command("check")
def cutover_check(
    ctx: typer.Context,
    config: ConfigOpt,
    source: SourceOpt = None,
    max_lag: Annotated[float, typer.Option("--max-lag-minutes")] = 60,
    as_json: JsonOpt = False,
    jobs: JobsOpt = 0,
) -> None:
    """Verdict per source: ready to switch off, or every reason why not. Exit 1 when one is not ready."""
    from sqlalchemy.orm import Session

    from hopnhat.config import VN_TZ
    from hopnhat.sync import cutover, service

    with Session(engine(ctx)) as session:
        sources = service.pick(service.load_config(config), source)
        verdicts = cutover.check(session, sources, datetime.now(VN_TZ).date(), max_lag, jobs=jobs_for(sources, jobs))
        session.commit()  # the verdicts are recorded for the plan and the pages, which cannot read the sources
    if as_json:
        print_json(verdicts)
    else:
        print_verdicts(verdicts)
    if not all(v["ready"] for v in verdicts.values()):
        raise typer.Exit(1)


@sources_app.command("profile")
def sources_profile(
    target: Annotated[
        str, typer.Argument(metavar="PATH|URL|DB-URL", help="An export file or folder, an API URL, a database URL.")
    ],
    table: Annotated[str | None, typer.Option("--table", help="The table, for a database URL.")] = None,
    name: Annotated[str, typer.Option("--name", help="The source name in the draft.")] = "new_source",
    as_json: JsonOpt = False,
) -> None:
    """Read a sample and print a draft mapping (TOML to paste into sources.toml), listing what it could not map."""
    from hopnhat.errors import InvalidInput
    from hopnhat.sync import profiler

    try:
        kind, reading, rows = profiler.sample(target, table)
    except (ValueError, OSError) as exc:
        raise InvalidInput(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    result = profiler.draft(kind, reading, rows, name)
    if as_json:
        print_json(result)
        return
    typer.echo(profiler.to_toml(result), nl=False)
    if result["unmapped_columns"]:
        err_console.print("not mapped: " + ", ".join(result["unmapped_columns"]))


@sources_app.command("check")
def sources_check(
    ctx: typer.Context,
    config: ConfigOpt,
    source: SourceOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Records read per source.")] = 100_000,
    as_json: JsonOpt = False,
) -> None:
    """Dry run: a sample of each source through the whole normalisation, nothing written. Per field the filled and
    parsed shares, the unknown values with counts, how many records would be quarantined and why."""
    from hopnhat.sync import profiler, service

    sources = service.pick(service.load_config(config), source)
    remapper = service.remapper_for(engine(ctx), sources)
    reports = {}
    for name, options in sources.items():
        try:
            reports[name] = profiler.check(name, options, remapper, limit)
        except Exception as exc:  # one source's failure is its report; the others are still checked
            reports[name] = {"source": name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    if as_json:
        print_json(reports)
        return
    language = lang(ctx)
    for name, r in reports.items():
        if "error" in r:
            err_console.print(f"{name}: {r['error']}", highlight=False, markup=False)
            continue
        console.print(
            f"[bold]{name}[/bold]: "
            + tr("cli_check_summary", language).format(
                count(int(r["records"]), "cli_n_records", language), r["would_quarantine"]
            ),
            highlight=False,
        )
        for problem in r["file_problems"].values():
            console.print(f"  {tr('file_problems', language)}: {problem}", highlight=False, markup=False)
        print_table(
            table(language, "field", "filled", "parsed"),
            (
                [
                    field,
                    f"{shares['filled']:.1%}",
                    "-" if shares["parsed"] is None else f"{shares['parsed']:.1%}",
                ]
                for field, shares in r["fields"].items()
            ),
        )
        for field, values in r["unknown_values"].items():
            listed = ", ".join(f"{v!r} x{n}" for v, n in values.items())
            console.print(f"  {tr('unknown_values', language)} ({field}): {listed}", highlight=False, markup=False)
        for why, n in r["reasons"].items():
            console.print(f"  {n} x {reason(why, language)}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")
    app.add_typer(sources_app, name="sources")
    app.add_typer(cutover_app, name="cutover")
    app.command("reconcile")(reconcile_cmd)
