"""``hopnhat demo``: the whole consolidation on the embedded default, start to finish.

Loads the registry and the bundled SAMPLE / EXAMPLE data every page needs (procedure catalogue, the 103+1 service
centers and the required equipment, the systems inventory, a transition plan whose consolidation tasks are linked to
the three sources), creates an ``admin`` account, generates the three legacy systems, syncs them with progress
bars, prints the reconciliation and the cut-over verdicts (recorded, so the plan and the overview show them), then
serves the API and the pages (unless ``--no-serve``) while the Cần Thơ simulator keeps answering, so a quarantined
record can be replayed from the browser.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so the store and the parts the demo
# drives are imported inside the functions that use them.
from hopnhat.cli_support import as_service, console, count, engine, lang, state, tr

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ADMIN = "admin"


def seed_examples(session: Session, language: str = "en") -> list[str]:
    """Load what the pages show besides the dossiers; returns one line per thing loaded.

    Idempotent, and never overwrites what an operator changed: the inventory and the plan are loaded only into a
    store that has none, centers and the equipment list only where missing, the catalogue by upsert.
    """
    from sqlalchemy import select

    from hopnhat.continuity import centers, inventory, plan
    from hopnhat.continuity.models import PlanTask, System
    from hopnhat.registry import service as registry
    from hopnhat.registry.codes import CodeRule
    from hopnhat.registry.loader import load_bundled
    from hopnhat.settlement import catalog

    done = []
    load_bundled(session)
    # Dossiers are routed to a service center by its agency code: issue them (default rule, idempotent) so the
    # dossiers-per-center page and the on-time rates have centers to show.
    issued = registry.issue_codes(session, CodeRule(), issued_on=date.today(), decision="DEMO (VÍ DỤ)")
    done.append(tr("cli_demo_codes", language).format(count(len(issued.issued), "cli_n_codes", language)))
    done.append(
        tr("cli_demo_catalog", language).format(count(catalog.load_sample(session), "cli_n_procedures", language))
    )
    done.append(
        tr("cli_demo_centers", language).format(count(centers.seed_centers(session), "cli_n_centers", language))
    )
    centers.seed_requirements(session)
    if session.scalars(select(System.id).limit(1)).first() is None:
        systems, _probes = inventory.load_example(session)
        done.append(tr("cli_demo_systems", language).format(count(systems, "cli_n_systems", language)))
    if session.scalars(select(PlanTask.id).limit(1)).first() is None:
        tasks = plan.import_csv(session, inventory.data_text("plan_example.csv"))
        done.append(tr("cli_demo_plan", language).format(count(tasks, "cli_n_plan_tasks", language)))
    return done


def ensure_admin(session: Session) -> str | None:
    """Create the ``admin`` account with a random password unless it exists; returns that password (to be shown
    once on the console, never logged) or None when the account was there already."""
    from hopnhat.identity import repository, service

    if repository.user_by_name(session, ADMIN) is not None:
        return None
    password = secrets.token_urlsafe(16)
    service.add_user(session, ADMIN, password, "administrator")
    return password


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
    the API and the pages."""
    from hopnhat.config import VN_TZ
    from hopnhat.db import session_scope
    from hopnhat.identity.service import check_can_serve
    from hopnhat.legacy import generate, serve_in_thread
    from hopnhat.sync import cutover, service
    from hopnhat.sync.cli import print_reconcile, print_results, print_verdicts, run_with_progress
    from hopnhat.sync.reconcile import reconcile

    if not no_serve:
        check_can_serve(host, state(ctx).settings)  # before the minutes of consolidation, not after
    store = engine(ctx)
    language = lang(ctx)
    console.print(f"[bold]0. {tr('cli_demo_step0', language)}[/]")
    with session_scope(store) as session:
        for line in seed_examples(session, language):
            console.print(f"  {line}", highlight=False)
        password = ensure_admin(session)
    if password is not None:
        # Printed on the console only, once; it is never logged.
        console.print(f"  {tr('cli_demo_admin', language).format(ADMIN)}", highlight=False, soft_wrap=True)
        console.print(f"  {tr('cli_demo_password', language)}: {password}", highlight=False, soft_wrap=True)
    out = out.resolve()
    console.print(f"[bold]1. {tr('cli_demo_step1', language)}[/] -> {out}", highlight=False)
    generate(out, dossiers=dossiers, seed=seed, fault_rate=0.01, sql="auto")
    with serve_in_thread(out):
        config = service.load_config(out / "sources.toml")
        console.print(f"[bold]2. {tr('cli_demo_step2', language)}[/]")
        print_results(run_with_progress(ctx, config, dry_run=False, full=False, quiet=False))
        today = datetime.now(VN_TZ).date()
        with session_scope(store) as session:
            console.print(f"[bold]3. {tr('cli_demo_step3', language)}[/]")
            print_reconcile(reconcile(session, config, today))
            console.print(f"[bold]4. {tr('cli_demo_step4', language)}[/]")
            print_verdicts(cutover.check(session, config, today))
        if no_serve:
            return
        import uvicorn

        from hopnhat.app import create_app

        settings = state(ctx).settings
        if not settings.sync_config:
            # The quarantine page replays through this file; it points at the simulator served above.
            settings = settings.model_copy(update={"sync_config": str(out / "sources.toml")})
        if "127.0.0.0/8" not in settings.probe_allowed_networks:
            # The demo's systems answer on this machine: its probes may reach loopback (a deployment's may not).
            allowed = f"{settings.probe_allowed_networks},127.0.0.0/8"
            settings = settings.model_copy(update={"probe_allowed_networks": allowed})
        console.print(f"[bold]5. {tr('cli_demo_step5', language).format(f'http://{host}:{port}/')}[/]", highlight=False)
        # As `serve`: uvicorn answers SIGTERM by finishing the requests in flight and the app's shutdown, then raises
        # the signal again to the handler it found; an empty one makes a stop asked for exit 0.
        import signal

        signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
        as_service(ctx)
        uvicorn.run(create_app(settings, store), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
