"""``hopnhat db``: the store's schema (current, upgrade, upgrade --sql), backup and restore.

These are the only commands that open a store whose schema is behind (``CliState.raw_engine``): every other command
refuses it on PostgreSQL and names ``hopnhat db upgrade``. Whoever can reach the store's database (its URL and
credentials, or the SQLite file) may run them: a backup holds everything, so the gate is the database's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hopnhat.cli_support import console, print_json, state

db_app = typer.Typer(help="The store: schema revision and upgrades, backup and restore.", no_args_is_help=True)


@db_app.command("current")
def current(ctx: typer.Context, json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The store's schema revision, this hopnhat's newest, and whether `hopnhat db upgrade` is needed."""
    from hopnhat.db import head_revisions, known_revisions, stored_revisions

    engine = state(ctx).raw_engine()
    stored, heads = stored_revisions(engine), head_revisions()
    if stored == heads:
        verdict = "at head"
    elif stored - known_revisions():
        verdict = "ahead: written by a newer hopnhat"
    else:
        verdict = "behind: run hopnhat db upgrade" if stored else "empty: run hopnhat db upgrade"
    if json_:
        print_json({"store": sorted(stored), "head": sorted(heads), "verdict": verdict.split(":")[0]})
        return
    console.print(
        f"store revision: {', '.join(sorted(stored)) or 'none'}; this hopnhat: {', '.join(sorted(heads))} ({verdict})",
        highlight=False,
    )


@db_app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the SQL the upgrade would run, change nothing (for the DBA).")
    ] = False,
) -> None:
    """Bring the store to this hopnhat's schema (back it up first: see README, Operations)."""
    import sys

    from hopnhat.db import ensure_schema, stored_revisions

    engine = state(ctx).raw_engine()
    if sql:
        from hopnhat.migrate import upgrade_sql

        upgrade_sql(engine, sys.stdout)
        return
    before = sorted(stored_revisions(engine))
    ensure_schema(engine)
    after = sorted(stored_revisions(engine))
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"store already at revision {', '.join(after)} ({where})", highlight=False)
    else:
        console.print(
            f"store upgraded to revision {', '.join(after)} from {', '.join(before) or 'empty'} ({where})",
            highlight=False,
        )


@db_app.command("backup")
def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="New directory to write the backup into (must not hold anything).")],
    json_: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Save the store (audit chain included) and the scans' files, with a manifest of digests."""
    from dataclasses import asdict

    from hopnhat.config import files_dir
    from hopnhat.ops.backup import backup as run_backup

    st = state(ctx)
    manifest = run_backup(st.raw_engine(), files_dir(st.settings), dest)
    if json_:
        print_json(asdict(manifest))
        return
    console.print(
        f"backup written to {dest}: {manifest.dossiers} dossiers (digest {manifest.digest[:16]}…), "
        f"{manifest.audit_entries} chained audit entries, {len(manifest.files)} files, revision "
        f"{', '.join(manifest.revision)}",
        highlight=False,
    )


@db_app.command("restore")
def restore(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="Directory written by hopnhat db backup.")],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Restore a backup into an empty store, then check it: the same dossiers' digest and an intact audit chain."""
    from hopnhat.config import files_dir
    from hopnhat.ops.backup import restore as run_restore

    st = state(ctx)
    report = run_restore(st.raw_engine(), files_dir(st.settings), source, st.settings.audit_key)
    if json_:
        print_json(
            {
                "dossiers": report.manifest.dossiers,
                "digest": report.digest,
                "digest_matches": report.digest == report.manifest.digest,
                "audit_ok": report.audit_ok,
                "audit_entries": report.audit_entries,
                "audit_signed": report.audit_signed,
                "files": report.files,
                "revision": report.manifest.revision,
            }
        )
        return
    signed = "signed heads checked" if report.audit_signed else "heads unsigned (no HOPNHAT_AUDIT_KEY)"
    console.print(
        f"restored {report.manifest.dossiers} dossiers (digest matches the backup), audit chain intact "
        f"({report.audit_entries} entries, {signed}), {report.files} files; revision "
        f"{', '.join(report.manifest.revision)}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


__all__ = ["register"]
