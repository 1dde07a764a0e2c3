"""``hopnhat legacy``: generate, serve and advance the simulated one-stop systems of the three former provinces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hopnhat.cli_support import console, lang, print_json, print_table, table, tr
from hopnhat.errors import InvalidInput

legacy_app = typer.Typer(
    help="Simulators of the former Cần Thơ (HTTP API), Hậu Giang (export files) and Sóc Trăng (database) systems.",
    no_args_is_help=True,
)


@legacy_app.command()
def generate(
    dossiers: Annotated[int, typer.Option("--dossiers", "-n", help="How many dossiers over 2023-01..2025-06.")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the three systems into.")] = Path("legacy"),
    fault_rate: Annotated[float, typer.Option(help="Share of records that carry a fault (0..1).")] = 0.01,
    sql: Annotated[
        str, typer.Option(help="Sóc Trăng's database: auto (MariaDB when reachable), sqlite, mariadb.")
    ] = "auto",
    xlsx: Annotated[bool, typer.Option("--xlsx/--no-xlsx", help="Also write Hậu Giang's exports as XLSX.")] = True,
    port: Annotated[int, typer.Option(help="Port written into sources.toml for the Cần Thơ API.")] = 8765,
    systems: Annotated[
        str,
        typer.Option(
            help="provincial (the three one-stop systems), all (the catalogue's 17) or names, comma-separated."
        ),
    ] = "provincial",
    catalogue: Annotated[
        Path | None, typer.Option(help="A catalogue of systems (TOML, see FORMATS.md) instead of the bundled one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the expected counts as JSON.")] = False,
) -> None:
    """Create the old systems with DIR/sources.toml, each system's mapping, faults_manifest.json and expected.json."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hopnhat.files import FileLimits, read_text
    from hopnhat.legacy.generator import generate as run
    from hopnhat.legacy.sector import load_catalogue

    described = load_catalogue(read_text(catalogue, FileLimits())) if catalogue is not None else None

    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("dossiers", total=dossiers)
        summary = run(
            out,
            dossiers,
            seed,
            fault_rate=fault_rate,
            sql=sql,
            xlsx=xlsx,
            port=port,
            progress=lambda done: bar.update(task, completed=done),
            systems=systems,
            catalogue=described,
        )
    if as_json:
        print_json(summary.to_json())
        return
    language = lang()
    print_table(
        table(language, "cli_source", "cli_rows", "cli_open", "cli_faults"),
        ([name, str(c.rows), str(c.open), str(sum(c.faults.values()))] for name, c in summary.sources.items()),
    )
    console.print(
        tr("cli_wrote_sources", language).format(f"{out}/sources.toml", summary.sql_url.split("?")[0]),
        highlight=False,
    )


@legacy_app.command()
def serve(
    directory: Annotated[Path, typer.Argument(help="Folder made by `legacy generate`.")],
    port: Annotated[int | None, typer.Option(help="Port (default: [legacy].port of sources.toml).")] = None,
) -> None:
    """Serve the Cần Thơ system's HTTP JSON API on 127.0.0.1 (and point sources.toml at it)."""
    import uvicorn

    from hopnhat.legacy.advance import read_config
    from hopnhat.legacy.server import create_app, set_base_url

    if not (directory / "cantho.db").exists():
        raise InvalidInput(f"{directory}: no cantho.db (run `hopnhat legacy generate --out DIR` first)")
    if port is None:
        port = int(read_config(directory).get("legacy", {}).get("port", 8765))
    set_base_url(directory, f"http://127.0.0.1:{port}")
    console.print(f"Cần Thơ legacy API on http://127.0.0.1:{port}/api/hoso")
    uvicorn.run(create_app(directory), host="127.0.0.1", port=port, log_level="warning")


@legacy_app.command()
def tick(
    directory: Annotated[Path, typer.Argument(help="Folder made by `legacy generate`.")],
    minutes: Annotated[int, typer.Option(help="Simulated minutes to advance.")] = 60,
    new_per_hour: Annotated[float, typer.Option(help="New dossiers per simulated hour, all systems.")] = 30.0,
    corrections_per_hour: Annotated[float, typer.Option(help="Corrected finished dossiers per hour.")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print what changed as JSON.")] = False,
) -> None:
    """Advance simulated time: new dossiers arrive, open ones move on, some get corrected."""
    from hopnhat.legacy.advance import tick as run

    report = run(directory, minutes, new_per_hour=new_per_hour, corrections_per_hour=corrections_per_hour)
    if as_json:
        print_json(report.to_json())
        return
    language = lang()
    print_table(
        table(language, "cli_source", "cli_new", "cli_changed", "cli_corrected", "cli_repaired"),
        (
            [
                source,
                str(report.new[source]),
                str(report.changed[source]),
                str(report.corrected[source]),
                str(len(report.repaired[source])),
            ]
            for source in report.new
        ),
    )
    console.print(tr("cli_clock_now", language).format(report.now), highlight=False)


@legacy_app.command()
def faults(
    directory: Annotated[Path, typer.Argument(help="Folder made by `legacy generate`.")],
    fail_next: Annotated[int, typer.Option(help="The next K API requests answer --fail-status.")] = 0,
    fail_status: Annotated[int, typer.Option(help="Status of a failed request.")] = 500,
    hang_next: Annotated[int, typer.Option(help="The next K API requests hang --hang-seconds first.")] = 0,
    hang_seconds: Annotated[float, typer.Option(help="How long a hanging request sleeps.")] = 30.0,
    down: Annotated[bool, typer.Option("--down/--up", help="Answer 503 to everything until --up.")] = False,
) -> None:
    """Set the Cần Thơ API's fault switches (DIR/faults.json, read by the running server on every request)."""
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: no such folder")
    if fail_next < 0 or hang_next < 0 or hang_seconds < 0 or not 400 <= fail_status <= 599:
        raise InvalidInput("counts and seconds cannot be negative; --fail-status must be 400..599")
    switches = {
        "fail_next": fail_next,
        "fail_status": fail_status,
        "hang_next": hang_next,
        "hang_seconds": hang_seconds,
        "down": down,
    }
    (directory / "faults.json").write_text(json.dumps(switches) + "\n", encoding="utf-8")
    console.print(f"faults: {switches}")


@legacy_app.command()
def clean(directory: Annotated[Path, typer.Argument(help="Folder made by `legacy generate`.")]) -> None:
    """Drop the simulated systems' MariaDB and PostgreSQL databases of DIR (files in DIR are left for you)."""
    from hopnhat.legacy.generator import cleanup

    if cleanup(directory):
        console.print("dropped the simulated systems' server databases")
    else:
        console.print("nothing to drop (every system of DIR is files or SQLite, or DIR was not generated)")


def register(app: typer.Typer) -> None:
    app.add_typer(legacy_app, name="legacy")
