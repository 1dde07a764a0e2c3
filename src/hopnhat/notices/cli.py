"""``hopnhat notices``: relay the notices to citizens, their dead letters, their templates, a gateway simulator."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file.
from hopnhat.cli_support import console, count, engine, lang, principal, print_json, print_table, state, table, tr
from hopnhat.errors import InvalidInput
from hopnhat.identity.roles import Permission

notices_app = typer.Typer(
    help="Notices to citizens by e-mail, SMS and Zalo: relay, dead letters, templates.", no_args_is_help=True
)
dead_app = typer.Typer(help="Notices the relay gave up on.", no_args_is_help=True)
templates_app = typer.Typer(help="The texts of the notices.", no_args_is_help=True)
notices_app.add_typer(dead_app, name="dead")
notices_app.add_typer(templates_app, name="templates")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@notices_app.command()
def relay(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", help="Only this channel (email, sms, zalo); repeatable. Default: every enabled one."),
    ] = None,
    lease_seconds: Annotated[
        float, typer.Option(help="SQLite: how long a silent relay keeps a channel (a killed one's, then).", min=0.5)
    ] = 30.0,
) -> None:
    """Deliver the queued notices, one relay per channel: an outage of one provider holds up no other."""
    import threading

    from hopnhat.config import notice_channels
    from hopnhat.notices.relay import NoticeRelay, NoticeRelayConfig, make_sender
    from hopnhat.notices.service import parse_channel

    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = state(ctx).settings
    channels = [parse_channel(c) for c in channel] if channel else list(notice_channels())
    if not channels:
        raise InvalidInput("no channel to relay: set HOPNHAT_NOTICE_CHANNELS (email, sms, zalo) or give --channel")
    config = NoticeRelayConfig.from_settings(settings, lease_seconds=lease_seconds)
    eng = engine(ctx)
    relays = [NoticeRelay(eng, c, make_sender(c, settings), settings, config) for c in channels]
    try:
        if once:
            counts: dict[str, int] = {}

            def drain(r: NoticeRelay) -> None:
                counts[r.channel] = r.drain(timeout=3600)

            threads = [threading.Thread(target=drain, args=(r,), name=f"notices-{r.channel}") for r in relays]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            language = lang(ctx)
            for r in relays:
                sent = count(counts.get(r.channel, 0), "cli_n_notices", language)
                console.print(tr("cli_nt_delivered", language).format(_channel(r.channel, language), sent))
            return
        from hopnhat.ops.stopping import stop_on_signals

        console.print(f"notice relays for {', '.join(channels)} (Ctrl+C to stop)")
        with stop_on_signals() as stop:  # the current batch is sent and recorded first
            threads = [threading.Thread(target=r.run, args=(stop,), name=f"notices-{r.channel}") for r in relays]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        console.print("stopped")
    finally:
        for r in relays:
            r.close()


@notices_app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Notices per channel: pending, delivered, dead, skipped (no consent or no contact)."""
    from hopnhat.db import session_scope
    from hopnhat.notices import service

    with session_scope(engine(ctx)) as session:
        principal(ctx, session).require(Permission.NOTICES_READ)  # as the API asks
        rows = service.counts(session)
    if as_json:
        print_json([r.model_dump() for r in rows])
        return
    language = lang(ctx)
    for r in rows:
        line = tr("cli_nt_status", language).format(
            _channel(r.channel, language), r.pending, r.delivered, r.dead, r.skipped
        )
        console.print(line, highlight=False)


@dead_app.command("list")
def dead_list(
    ctx: typer.Context,
    dossier: Annotated[str | None, typer.Option(help="Only this dossier's notices.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=5000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Dead notices (each holds its dossier's later notices on its channel until resent)."""

    from hopnhat.db import session_scope
    from hopnhat.notices import service

    with session_scope(engine(ctx)) as session:
        principal(ctx, session).require(Permission.NOTICES_READ)
        dead = service.dead_letters(session, dossier, limit)
    if as_json:
        print_json([d.model_dump(mode="json") for d in dead])
        return
    language = lang(ctx)
    if not dead:
        console.print(tr("cli_nt_none_dead", language))
        return
    print_table(
        table(
            language, "cli_nt_id", "cli_nt_dossier", "notice_channel", "notice_event", "notice_attempts", "notice_error"
        ),
        (
            [
                str(d.id),
                d.dossier_code,
                _channel(d.channel, language),
                tr(f"notice_event_{d.event}", language),
                str(d.attempts),
                d.last_error or "",
            ]
            for d in dead
        ),
    )


@dead_app.command("resend")
def dead_resend(
    ctx: typer.Context,
    notice_id: Annotated[int, typer.Argument(help="Id of the dead notice (see `notices dead list`).")],
) -> None:
    """Queue a dead notice again, with the same message id (audited)."""
    from hopnhat.db import session_scope
    from hopnhat.notices import service

    with session_scope(engine(ctx)) as session:
        acting = principal(ctx, session)
        acting.require(Permission.NOTICES_WRITE)
        service.resend(session, acting, notice_id)
    console.print(tr("cli_nt_requeued", lang(ctx)).format(notice_id))


@templates_app.command("list")
def templates_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    full: Annotated[bool, typer.Option("--full", help="Print every template's text.")] = False,
) -> None:
    """The template of every event and channel (an administrator's version, or the bundled default)."""
    from hopnhat.db import session_scope
    from hopnhat.notices import service

    with session_scope(engine(ctx)) as session:
        principal(ctx, session).require(Permission.NOTICE_TEMPLATES)  # as the API asks
        rows = service.list_templates(session)
    if as_json:
        print_json([r.model_dump() for r in rows])
        return
    language = lang(ctx)
    for r in rows:
        who = tr("cli_nt_edited_by", language).format(r.edited_by) if r.edited_by else tr("cli_nt_default", language)
        console.print(f"{r.event}/{r.channel} ({who}): {r.subject or ''}", highlight=False, markup=False)
        if full:
            console.print(r.body, highlight=False, markup=False)
            console.print()


@templates_app.command("edit")
def templates_edit(
    ctx: typer.Context,
    event: Annotated[str, typer.Argument(help="receipt, supplement, refusal, delay or result.")],
    channel: Annotated[str, typer.Argument(help="email, sms or zalo.")],
    body_file: Annotated[Path, typer.Option("--body-file", help="UTF-8 text file with the template's body (Jinja).")],
    subject: Annotated[str | None, typer.Option(help="The e-mail's subject (e-mail only).")] = None,
) -> None:
    """Save a template (checked by rendering it with sample values; must give {{ stop_url }}; audited)."""
    from hopnhat.db import session_scope
    from hopnhat.notices import service
    from hopnhat.notices.templates import MAX_BODY

    try:
        if body_file.stat().st_size > MAX_BODY * 4:
            raise InvalidInput(f"{body_file}: larger than a template may be ({MAX_BODY} characters)")
        body = body_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{body_file}: cannot read it as UTF-8 text ({type(exc).__name__})") from None
    with session_scope(engine(ctx)) as session:
        acting = principal(ctx, session)
        acting.require(Permission.NOTICE_TEMPLATES)
        service.edit_template(session, acting, event, channel, subject, body)
    console.print(tr("cli_nt_saved", lang(ctx)).format(event, channel))


@notices_app.command("gateway-sim")
def gateway_sim(port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8911) -> None:
    """Run the SMS / Zalo gateway simulator (POST /send; faults at /admin/faults; /admin/stats)."""
    from hopnhat.notices.simulator import serve

    console.print(f"gateway simulator on http://127.0.0.1:{port}/send")
    serve(port)


def register(app: typer.Typer) -> None:
    app.add_typer(notices_app, name="notices")


def _channel(channel: str, language: str) -> str:
    """A channel's name for people ("Thư điện tử", "Tin nhắn SMS", "Zalo")."""
    return tr(f"notice_channel_{channel}", language)


__all__ = ["register"]
