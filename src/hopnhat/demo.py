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


def seed_province(session: Session, province: str, groups: dict[str, str]) -> list[str]:
    """Reference data of a merged province other than Cần Thơ: its registry (its units and those that formed it),
    agency codes under the default rule with the level-1 ``groups`` given (``{former province: H-number}``; the new
    province's is its own code's: never invented), the procedure catalogue, and a center per new commune."""
    from hopnhat.continuity import centers
    from hopnhat.registry import service as registry
    from hopnhat.registry.codes import CodeRule
    from hopnhat.registry.loader import load_bundled
    from hopnhat.settlement import catalog

    done = []
    report = load_bundled(session, provinces=[province])
    done.append(f"registry of province {province} and its former provinces: {report.units_added} units")
    rule = CodeRule(city_group=groups.get(province, ""), old_province_groups=dict(groups))
    issued = registry.issue_codes(session, rule, issued_on=date.today(), decision="DEMO (VÍ DỤ)", province=province)
    done.append(f"{len(issued.issued)} agency codes issued (default rule, groups {groups}, DEMO decision)")
    done.append(f"{catalog.load_sample(session)} procedures (SAMPLE catalogue)")
    done.append(f"{centers.seed_centers(session, province)} service centers created")
    centers.seed_requirements(session)
    return done


def parse_groups(values: list[str]) -> dict[str, str]:
    """``CODE=GROUP`` options (``96=H12``) as a dict; a malformed one is refused naming it."""
    import re

    from hopnhat.errors import InvalidInput

    groups = {}
    for value in values:
        match = re.fullmatch(r"\s*(\d{2})\s*=\s*([A-Z]\d{2})\s*", value)
        if match is None:
            raise InvalidInput(f"--group {value!r}: give CODE=GROUP, a province code and its H-number (96=H12)")
        groups[match.group(1)] = match.group(2)
    return groups


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
    province: Annotated[
        str | None,
        typer.Option(help="The merged province (code on 2025-07-01; default: the province setting, 92)."),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            help="CODE=GROUP, the level-1 agency group (H-number) of the province and of each former province it "
            "merged; required for every province but Cần Thơ's, whose groups are known. Repeat it."
        ),
    ] = None,
    systems: Annotated[
        str,
        typer.Option(help="Cần Thơ: provincial (the three one-stop systems) or all (the 17 of the catalogue)."),
    ] = "provincial",
) -> None:
    """Generate the former systems, consolidate them, print the reconciliation and cut-over verdicts, serve the
    API and the pages. With --province another merged province is built end to end (its registry, agency codes,
    centers and a generic set of former systems per former province)."""

    from hopnhat.config import VN_TZ
    from hopnhat.db import session_scope
    from hopnhat.identity.service import check_can_serve
    from hopnhat.legacy import generate, serve_in_thread
    from hopnhat.sync import cutover, service
    from hopnhat.sync.cli import print_reconcile, print_results, print_verdicts, run_with_progress
    from hopnhat.sync.reconcile import reconcile

    if not no_serve:
        check_can_serve(host, state(ctx).settings)  # before the minutes of consolidation, not after
    from hopnhat.legacy.sector import described, province_catalogue

    settings = state(ctx).settings
    province = province or settings.province_code
    groups = parse_groups(group or [])
    cantho = described(province)  # Cần Thơ: the 17 systems of the bundled catalogue
    catalogue = None if cantho else province_catalogue(province)
    store = engine(ctx)
    language = lang(ctx)
    console.print(f"[bold]0. {tr('cli_demo_step0', language)}[/]")
    with session_scope(store) as session:
        lines = seed_examples(session, language) if cantho else seed_province(session, province, groups)
        for line in lines:
            console.print(f"  {line}", highlight=False)
        password = ensure_admin(session)
    if password is not None:
        # Printed on the console only, once; it is never logged.
        console.print(f"  {tr('cli_demo_admin', language).format(ADMIN)}", highlight=False, soft_wrap=True)
        console.print(f"  {tr('cli_demo_password', language)}: {password}", highlight=False, soft_wrap=True)
    out = out.resolve()
    console.print(f"[bold]1. {tr('cli_demo_step1', language)}[/] -> {out}", highlight=False)
    generate(
        out,
        dossiers=dossiers,
        seed=seed,
        fault_rate=0.01,
        sql="auto",
        systems=systems if cantho else "all",
        catalogue=catalogue,
        groups=groups,
    )
    if "127.0.0.0/8" not in settings.probe_allowed_networks:
        # The demo's systems answer on this machine: its probes may reach loopback (a deployment's may not).
        allowed = f"{settings.probe_allowed_networks},127.0.0.0/8"
        settings = settings.model_copy(update={"probe_allowed_networks": allowed})
    if not cantho or systems != "provincial":
        from hopnhat.continuity import inventory
        from hopnhat.continuity.netguard import AllowList

        allow = AllowList.parse(settings.probe_allowed_networks)
        with session_scope(store) as session:
            listed, probes = inventory.load_file(session, out / "inventory.yaml", allow=allow)
        console.print(f"  {listed} systems with {probes} probes in the inventory")
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

        if settings.province_code != province:
            settings = settings.model_copy(update={"province_code": province})
        if not settings.sync_config:
            # The quarantine page replays through this file; it points at the simulator served above.
            settings = settings.model_copy(update={"sync_config": str(out / "sources.toml")})
        console.print(f"[bold]5. {tr('cli_demo_step5', language).format(f'http://{host}:{port}/')}[/]", highlight=False)
        # As `serve`: uvicorn answers SIGTERM by finishing the requests in flight and the app's shutdown, then raises
        # the signal again to the handler it found; an empty one makes a stop asked for exit 0.
        import signal

        signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
        as_service(ctx)
        uvicorn.run(create_app(settings, store), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
