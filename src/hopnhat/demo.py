"""``hopnhat demo``: the whole consolidation on the embedded default, start to finish.

Generates the three legacy systems, loads the registry, syncs them with progress bars, prints the reconciliation
and the cut-over verdicts, then serves the API (unless ``--no-serve``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from hopnhat.cli_support import console, engine, state
from hopnhat.config import VN_TZ


def demo(
    ctx: typer.Context,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the verdicts.")] = False,
    dossiers: Annotated[int, typer.Option("--dossiers", min=10, help="Dossiers across the three systems.")] = 3000,
    out: Annotated[Path, typer.Option("--out", help="Folder of the generated legacy systems.")] = Path("legacy-demo"),
    seed: Annotated[int, typer.Option("--seed")] = 42,
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on.")] = 8000,
) -> None:
    """Generate the three legacy systems, consolidate them, print the reconciliation and cut-over verdicts, serve
    the API."""
    from hopnhat.legacy import generate, serve_in_thread
    from hopnhat.registry.loader import load_bundled
    from hopnhat.sync import cutover, service
    from hopnhat.sync.cli import print_results, run_with_progress
    from hopnhat.sync.reconcile import reconcile

    store = engine(ctx)
    with Session(store) as session:
        load_bundled(session)
        session.commit()
    console.print(f"[bold]1. Legacy systems[/] -> {out.resolve()}")
    generate(out.resolve(), dossiers=dossiers, seed=seed, fault_rate=0.01, sql="auto")
    with serve_in_thread(out.resolve()):
        config = service.load_config(out.resolve() / "sources.toml")
        console.print("[bold]2. Consolidation[/]")
        print_results(run_with_progress(ctx, config, dry_run=False, full=False, quiet=False))
        today = datetime.now(VN_TZ).date()
        with Session(store) as session:
            console.print("[bold]3. Reconciliation[/]")
            report = reconcile(session, config, today)
            table = Table("source", "source rows", "store rows", "missing", "extra", "changed", "quarantined")
            for name, r in report.items():
                keys = ("source_rows", "store_rows", "missing", "extra", "changed", "quarantined_open")
                table.add_row(name, *(str(r.get(k, "")) for k in keys))
            console.print(table)
            console.print("[bold]4. Cut-over gate[/]")
            for name, verdict in cutover.check(session, config, today).items():
                console.print(f"{name}: {'READY' if verdict['ready'] else 'NOT READY'}")
                for reason in verdict["reasons"]:
                    console.print(f"  - {reason}")
    if no_serve:
        return
    import uvicorn

    from hopnhat.app import create_app

    console.print(f"[bold]5. API[/] on http://{host}:{port}/api/v1 (docs at /docs; Ctrl-C stops)")
    uvicorn.run(create_app(state(ctx).settings, store), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
