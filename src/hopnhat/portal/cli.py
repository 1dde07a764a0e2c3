"""``hopnhat portal``: relay the outbox, watch it, handle dead letters, run the portal simulator."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so httpx, FastAPI and the store are
# imported inside the commands that use them.
from hopnhat.cli_support import (
    as_service,
    console,
    count,
    engine,
    lang,
    local_time,
    print_json,
    print_table,
    status_name,
    table,
    tr,
)
from hopnhat.errors import InvalidInput
from hopnhat.identity.roles import Permission
from hopnhat.portal.defaults import DEFAULT_PASSWORD, DEFAULT_USERNAME

if TYPE_CHECKING:
    from hopnhat.portal.client import Protocol

portal_app = typer.Typer(
    help="National Public Service Portal: outbox relay, status, dead letters, simulator.", no_args_is_help=True
)
dead_app = typer.Typer(help="Events the relay gave up on.", no_args_is_help=True)
portal_app.add_typer(dead_app, name="dead")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _quiet_http_log() -> None:
    # httpx logs every request at INFO: hundreds of lines a second from the relay, and noise in --json output.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _protocol(style: str, dstcode: str, madonvi: str) -> Protocol:
    from hopnhat.portal.client import Protocol

    if style not in ("service", "urls"):
        raise InvalidInput(f"--style {style[:40]!r}: expected 'service' or 'urls'")
    return Protocol(style="service" if style == "service" else "urls", dstcode=dstcode, madonvi=madonvi)


@portal_app.command()
def relay(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    url: Annotated[
        str, typer.Option(envvar="HOPNHAT_PORTAL_URL", help="Base URL of the portal.")
    ] = "http://127.0.0.1:8900",
    username: Annotated[str, typer.Option(envvar="HOPNHAT_PORTAL_USERNAME", help="Portal account.")] = DEFAULT_USERNAME,
    password: Annotated[
        str, typer.Option(envvar="HOPNHAT_PORTAL_PASSWORD", help="Portal password.", show_default=False)
    ] = DEFAULT_PASSWORD,
    style: Annotated[
        str,
        typer.Option(
            envvar="HOPNHAT_PORTAL_STYLE",
            help="'service' (one URL, the operation in a 'service' field) or 'urls' (create/update/steps URLs).",
        ),
    ] = "service",
    dstcode: Annotated[
        str, typer.Option(envvar="HOPNHAT_PORTAL_DSTCODE", help="Header 'dstcode': the gateway's destination code.")
    ] = "DVCQG",
    madonvi: Annotated[
        str, typer.Option(envvar="HOPNHAT_PORTAL_MADONVI", help="Body 'madonvi': the sending agency's code.")
    ] = "hopnhat",
    batch_size: Annotated[
        int,
        typer.Option(
            envvar="HOPNHAT_PORTAL_BATCH_SIZE",
            help="Dossiers or steps per portal call (1 = one record).",
            min=1,
            max=500,
        ),
    ] = 10,
    batch: Annotated[int, typer.Option(help="Events claimed per batch.", min=1, max=10000)] = 500,
    workers: Annotated[int, typer.Option(help="Portal calls in flight at once.", min=1, max=128)] = 8,
    max_attempts: Annotated[
        int, typer.Option(envvar="HOPNHAT_PORTAL_MAX_ATTEMPTS", help="Failures before an event goes dead.", min=1)
    ] = 10,
    backoff: Annotated[float, typer.Option(help="First retry delay in seconds (doubles per failure).", min=0)] = 1.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the portal's answer.", min=0.1)] = 10.0,
) -> None:
    """Deliver outbox events to the portal: in order per dossier, in batches, with backoff and dead letters."""
    from hopnhat.portal.client import PortalClient
    from hopnhat.portal.relay import Relay, RelayConfig
    from hopnhat.portal.service import RetryPolicy

    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--url {url!r} is not an http(s) URL")
    _quiet_http_log()
    config = RelayConfig(
        batch=batch,
        workers=workers,
        batch_size=batch_size,
        policy=RetryPolicy(max_attempts=max_attempts, base_seconds=backoff),
    )
    with (
        PortalClient(
            url,
            username,
            password,
            protocol=_protocol(style, dstcode, madonvi),
            timeout=timeout,
            max_connections=workers,
        ) as client,
        Relay(engine(ctx), client, config) as worker,
    ):
        if once:
            delivered = worker.drain(timeout=3600)
            console.print(tr("cli_delivered", lang(ctx)).format(count(delivered, "cli_n_events", lang(ctx))))
            return
        from hopnhat.ops.stopping import stop_on_signals

        as_service(ctx)
        console.print(f"relay {worker.relay_id} delivering to {url} (Ctrl+C to stop)")
        with stop_on_signals() as stop:  # SIGTERM or Ctrl-C: the current batch is delivered and recorded first
            worker.run(stop)
        console.print("stopped")


@portal_app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Backlog, lag, failures and dead letters of the delivery to the portal."""
    from hopnhat.db import session_scope
    from hopnhat.portal import service

    with session_scope(engine(ctx)) as session:
        result = service.status(session)
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    language = lang(ctx)
    print_table(
        table(language, "cli_item", "cli_value"),
        [
            [
                tr("cli_pending", language),
                tr("cli_pending_detail", language).format(result.pending, result.due, result.retrying),
            ],
            [tr("cli_lag", language), f"{result.lag_seconds:.1f} s"],
            [tr("cli_dead", language), tr("cli_dead_detail", language).format(result.dead, result.blocked_dossiers)],
            [tr("cli_delivered_total", language), str(result.delivered)],
            *([[tr("cli_last_error", language), result.last_error]] if result.last_error else []),
        ],
    )
    if result.relays:
        print_table(
            table(language, "cli_relay", "cli_last_seen", "cli_delivered_total", "cli_failed"),
            (
                [r.relay_id, local_time(r.heartbeat_at, language), str(r.delivered), str(r.failed)]
                for r in result.relays
            ),
        )


@dead_app.command("list")
def dead_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=10000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Dead events (each blocks the later events of its dossier until requeued)."""
    from hopnhat.db import session_scope
    from hopnhat.portal import service

    with session_scope(engine(ctx)) as session:
        dead = service.dead_letters(session, limit)
    if as_json:
        print_json([d.model_dump(mode="json") for d in dead])
        return
    language = lang(ctx)
    if not dead:
        console.print(tr("cli_no_dead", language), highlight=False)
        return
    print_table(
        table(language, "cli_id", "portal_dossier", "cli_seq", "cli_kind", "cli_attempts", "cli_last_error"),
        ([str(d.id), d.dossier_code, str(d.seq), d.kind, str(d.attempts), d.last_error or ""] for d in dead),
    )
    console.print(count(len(dead), "cli_n_events", language), highlight=False)


@portal_app.command()
def requeue(
    ctx: typer.Context,
    event_id: Annotated[int | None, typer.Argument(help="Id of the dead event (see `portal dead list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Requeue every dead event.")] = False,
) -> None:
    """Put dead events back in the queue."""
    from hopnhat.db import session_scope
    from hopnhat.portal import service

    if (event_id is None) == (not all_):
        raise InvalidInput("give either an event id or --all")
    with session_scope(engine(ctx)) as session:
        requeued = service.requeue_all(session) if all_ else service.requeue(session, event_id or 0)
    console.print(tr("cli_requeued", lang(ctx)).format(count(requeued, "cli_n_events", lang(ctx))), highlight=False)


@dead_app.command("mend")
def dead_mend(
    ctx: typer.Context,
    event_id: Annotated[int, typer.Argument(help="Id of the dead event (see `portal dead list`).")],
    set_: Annotated[
        list[str],
        typer.Option("--set", help="FIELD=VALUE, a corrected identifier (MaHoSo, MaTTHC, MaLinhVuc, DonViXuLy, ...)."),
    ],
    reason: Annotated[str, typer.Option(help="Why (goes into the audit log).")],
) -> None:
    """Correct a dead event's identifiers as the portal must receive them, and send it again (audited)."""
    from hopnhat.cli_support import audited, principal
    from hopnhat.db import session_scope
    from hopnhat.portal import service

    fields: dict[str, str] = {}
    for item in set_:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set {item[:60]!r}: expected FIELD=VALUE")
        fields[name.strip()] = value
    with session_scope(engine(ctx)) as session:
        acting = principal(ctx, session)
        acting.require(Permission.PORTAL_WRITE)
        changes = service.mend(session, event_id, fields, reason, acting.username or "")
        audited(ctx, session, "portal.mend", "outbox_event", str(event_id), changes)
    console.print(f"event {event_id} mended and queued again")


@dead_app.command("skip")
def dead_skip(
    ctx: typer.Context,
    event_id: Annotated[int, typer.Argument(help="Id of the dead event (see `portal dead list`).")],
    reason: Annotated[str, typer.Option(help="Why it will never be sent (goes into the audit log).")],
) -> None:
    """Give up a dead event for good; its dossier's later events go on (audited)."""
    from hopnhat.cli_support import audited, principal
    from hopnhat.db import session_scope
    from hopnhat.portal import service

    with session_scope(engine(ctx)) as session:
        principal(ctx, session).require(Permission.PORTAL_WRITE)
        changes = service.skip(session, event_id, reason)
        audited(ctx, session, "portal.skip", "outbox_event", str(event_id), changes)
    console.print(f"event {event_id} skipped")


@portal_app.command("report766")
def report766(
    ctx: typer.Context,
    start: Annotated[str, typer.Option(help="First day received (YYYY-MM-DD or dd/mm/yyyy).")],
    end: Annotated[str, typer.Option(help="Last day received (inclusive).")],
    center: Annotated[str | None, typer.Option(help="Only this center (agency code).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: CSV to stdout).")] = None,
) -> None:
    """Decision 766 indicators as the portal computes them, per center and for the city (unconfirmed rules marked
    in the XLSX's notes sheet)."""
    from datetime import datetime, time, timedelta

    from hopnhat.cli_support import parse_day
    from hopnhat.config import VN_TZ
    from hopnhat.db import session_scope
    from hopnhat.portal import indicators

    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    if last < first:
        raise InvalidInput("--end is before --start")
    since = datetime.combine(first, time(), VN_TZ)
    until = datetime.combine(last + timedelta(days=1), time(), VN_TZ)
    with session_scope(engine(ctx)) as session:
        body = indicators.export(indicators.compute(session, since, until, center), fmt)
    if out is None:
        if fmt != "csv":
            raise InvalidInput("--format xlsx needs --out FILE")
        typer.echo(body.decode("utf-8-sig"), nl=False)
        return
    out.write_bytes(body)
    console.print(f"wrote {out}")


@portal_app.command()
def check(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Dossier code.")],
    url: Annotated[
        str, typer.Option(envvar="HOPNHAT_PORTAL_URL", help="Base URL of the portal.")
    ] = "http://127.0.0.1:8900",
    username: Annotated[str, typer.Option(envvar="HOPNHAT_PORTAL_USERNAME", help="Portal account.")] = DEFAULT_USERNAME,
    password: Annotated[
        str, typer.Option(envvar="HOPNHAT_PORTAL_PASSWORD", help="Portal password.", show_default=False)
    ] = DEFAULT_PASSWORD,
    style: Annotated[str, typer.Option(envvar="HOPNHAT_PORTAL_STYLE", help="'service' or 'urls'.")] = "service",
    dstcode: Annotated[str, typer.Option(envvar="HOPNHAT_PORTAL_DSTCODE", help="Header 'dstcode'.")] = "DVCQG",
    madonvi: Annotated[str, typer.Option(envvar="HOPNHAT_PORTAL_MADONVI", help="Body 'madonvi'.")] = "hopnhat",
    as_json: JsonOpt = False,
) -> None:
    """Compare a dossier's status here with the portal's copy (TraCuuHoSo)."""
    from hopnhat.db import session_scope
    from hopnhat.portal import service
    from hopnhat.portal.client import PortalClient

    _quiet_http_log()
    with PortalClient(url, username, password, protocol=_protocol(style, dstcode, madonvi)) as client:
        portal_copy = client.lookup(code) or {}
    with session_scope(engine(ctx)) as session:
        result = service.compare_with_portal(session, code, portal_copy)
    if as_json:
        print_json(result)
        return
    language = lang(ctx)
    verdict = tr("cli_in_sync" if result["in_sync"] else "cli_different", language)
    portal_status = result["portal_status"]
    console.print(
        tr("cli_portal_check", language).format(
            code,
            status_name(int(result["local_status"]), language) if result["local_status"] is not None else "-",
            status_name(int(portal_status), language) if str(portal_status or "").isdigit() else (portal_status or "-"),
            verdict,
            count(int(result["undelivered_events"]), "cli_n_events", language),
        ),
        highlight=False,
        soft_wrap=True,
    )


@portal_app.command()
def simulate(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.", min=1, max=65535)] = 8900,
    db: Annotated[Path, typer.Option("--db", help="SQLite file where the simulator records what it accepted.")] = Path(
        "portal-sim.db"
    ),
) -> None:
    """Run the portal simulator (login, services, fault injection at /admin/faults) on 127.0.0.1."""
    from hopnhat.portal.simulator import serve

    console.print(f"portal simulator on http://127.0.0.1:{port} (records in {db}; faults at /admin/faults)")
    serve(port, db)


def register(app: typer.Typer) -> None:
    app.add_typer(portal_app, name="portal")


__all__ = ["register"]
