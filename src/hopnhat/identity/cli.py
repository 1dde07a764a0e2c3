"""``hopnhat audit``: read, seal and verify the audit log; the per-citizen access report."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from hopnhat.cli_support import (
    console,
    count,
    engine,
    lang,
    local_time,
    parse_day,
    principal,
    print_json,
    print_table,
    state,
    table,
    tr,
)
from hopnhat.errors import HopnhatError, InvalidInput

audit_app = typer.Typer(help="The audit log: who saw whose personal data, who changed what.", no_args_is_help=True)


def _bounds(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    from hopnhat.config import VN_TZ

    lo = datetime.combine(parse_day(since, "--since"), time(0), VN_TZ) if since else None
    hi = datetime.combine(parse_day(until, "--until") + timedelta(days=1), time(0), VN_TZ) if until else None
    return lo, hi


@audit_app.command("list")
def list_(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Only this account's entries.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (dossier.view, signin.failed, ...).")] = None,
    object_id: Annotated[str | None, typer.Option("--object", help="Only entries about this object (a code).")] = None,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD, Vietnam time).")] = None,
    until: Annotated[str | None, typer.Option(help="To this day, inclusive.")] = None,
    citizen: Annotated[str | None, typer.Option(help="Only entries about this citizen ID number.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest entries first; reading the log is itself recorded (auditors and administrators only)."""
    from hopnhat.db import session_scope
    from hopnhat.identity import audit
    from hopnhat.identity.roles import Permission

    lo, hi = _bounds(since, until)
    with session_scope(engine(ctx)) as session:
        who = principal(ctx, session)
        who.require(Permission.AUDIT)
        found = audit.entries(session, audit.Filters(actor, action, object_id, lo, hi, citizen, limit))
        rows = [audit.as_row(e) for e in found]
        audit.record(session, who, "audit.query", object_type="audit", citizen_id=citizen)
    if json_:
        print_json([{**r, "at": r["at"].isoformat()} for r in rows])
        return
    language = lang(ctx)
    print_table(
        table(language, "cli_seq", "cli_at", "cli_account", "cli_client", "cli_action", "cli_object", "cli_changes"),
        (
            [
                str(r["seq"] or "-"),
                local_time(r["at"], language),
                r["actor"] or "-",
                r["client"] or "-",
                r["action"],
                f"{r['object_type'] or ''} {r['object_id'] or ''}".strip() or "-",
                r["changes"] or "",
            ]
            for r in rows
        ),
    )
    console.print(count(len(rows), "cli_n_entries", language), highlight=False)


@audit_app.command("seal")
def seal(ctx: typer.Context) -> None:
    """Chain the entries written since the last seal and sign the new head (the server does this every few
    seconds; run it from cron where no server runs)."""
    from hopnhat.identity import audit

    sealed = audit.seal_now(engine(ctx), state(ctx).settings.audit_key)
    console.print(tr("cli_sealed", lang(ctx)).format(count(sealed, "cli_n_entries", lang(ctx))), highlight=False)


@audit_app.command("verify")
def verify(ctx: typer.Context, json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Seal what is pending, then recompute the whole chain and check every signed head; exit 1 at the first
    broken entry, naming it."""
    from sqlalchemy.orm import Session

    from hopnhat.identity import audit

    key = state(ctx).settings.audit_key
    audit.seal_now(engine(ctx), key)
    with Session(engine(ctx)) as session:
        verdict = audit.verify(session, key)
    if json_:
        print_json(verdict.__dict__)
    elif verdict.ok:
        signed = "heads signed with HOPNHAT_AUDIT_KEY" if verdict.signed else "heads UNSIGNED (no HOPNHAT_AUDIT_KEY)"
        console.print(f"audit chain intact: {verdict.entries} entries, {verdict.heads} heads, {signed}")
    if not verdict.ok:
        raise HopnhatError(f"audit chain broken at entry {verdict.broken_seq}: {verdict.reason}")


@audit_app.command("citizen")
def citizen(
    ctx: typer.Context,
    id_number: Annotated[str, typer.Argument(help="The citizen's ID number (CCCD); it is not stored in the log.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (xlsx needs one).")] = None,
) -> None:
    """Every officer access to one citizen's data, for the data-protection officer (the query is recorded)."""
    from hopnhat.db import session_scope
    from hopnhat.identity import audit
    from hopnhat.identity.roles import Permission

    with session_scope(engine(ctx)) as session:
        who = principal(ctx, session)
        who.require(Permission.AUDIT)
        rows = audit.citizen_report(session, id_number)
        audit.record(session, who, "audit.citizen_report", object_type="audit", citizen_id=id_number)
    data = render_report(rows, fmt.lower())
    if output is not None:
        output.write_bytes(data)
        written = count(len(rows), "cli_n_accesses", lang(ctx))
        console.print(tr("cli_written_to", lang(ctx)).format(written, output), highlight=False)
    elif fmt.lower() == "xlsx":
        raise InvalidInput("--format xlsx needs --output FILE")
    else:
        typer.echo(data.decode("utf-8"), nl=False)


REPORT_COLUMNS = ["seq", "at", "actor", "roles", "via", "client", "action", "object_type", "object_id", "changes"]


def render_report(rows: list[dict[str, Any]], fmt: str) -> bytes:
    """The report as CSV, XLSX or JSON, through the project's safe writer (no cell runs as a formula)."""
    import json

    from hopnhat import files

    plain = [{**r, "at": r["at"].isoformat()} for r in rows]
    if fmt == "json":
        return json.dumps(plain, ensure_ascii=False, indent=2).encode()
    if fmt == "csv":
        return files.write_csv(plain, REPORT_COLUMNS).encode("utf-8")
    if fmt == "xlsx":
        return files.write_xlsx({"audit": (REPORT_COLUMNS, plain)})
    raise InvalidInput(f"--format {fmt!r}: csv, xlsx or json")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


__all__ = ["register", "render_report"]
