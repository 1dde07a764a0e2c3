"""``hopnhat users`` and ``hopnhat tokens``: accounts and machine tokens (the rules are in hopnhat.identity).

These commands live here, at the top of the parts, because an officer's center may be given by its commune code,
which only the continuity part's centers resolve; identity itself imports no part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

# The store is imported inside the commands: every ``hopnhat`` call imports this file.
from hopnhat.cli_support import (
    console,
    count,
    engine,
    lang,
    local_time,
    principal,
    print_json,
    print_table,
    table,
    tr,
    value,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hopnhat.identity.principal import Principal

users_app = typer.Typer(help="Accounts: administrators, operators, stewards, center and processing officers, auditors.")
tokens_app = typer.Typer(help="Machine tokens of accounts: shown once, stored hashed, scoped, expiring, revocable.")


def _may_manage(ctx: typer.Context, session: Session) -> Principal:
    """Account commands need the accounts right, except to create the very first account (bootstrap)."""
    from sqlalchemy import func, select

    from hopnhat.identity.models import User
    from hopnhat.identity.roles import Permission

    who = principal(ctx, session)
    if session.scalar(select(func.count()).select_from(User)) == 0:
        return who
    who.require(Permission.ACCOUNTS)
    return who


def _audit(session: Session, who: Principal, action: str, kind: str, name: str, **changes: object) -> None:
    from hopnhat.identity import audit

    audit.record(session, who, action, object_type=kind, object_id=name, changes=changes or None)


def _centers(session: Session, codes: list[str]) -> list[str]:
    from hopnhat.continuity.centers import resolve_center

    # Stored as the agency code whichever code was given: dossiers carry that code.
    return [resolve_center(session, c).agency_code or c for c in codes]


@users_app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Sign-in name (letters, digits, '.', '_', '-', '@').")],
    role: Annotated[
        str,
        typer.Option(
            help="administrator, department_operator, data_steward, center_leader, center_officer, "
            "processing_officer or auditor."
        ),
    ] = "department_operator",
    center: Annotated[
        list[str] | None,
        typer.Option(
            help="A service center of the officer or leader: its agency code (001.01.60.H13) or its commune code "
            "(31120); repeat for several; the agency code is stored.",
        ),
    ] = None,
    unit: Annotated[
        list[str] | None, typer.Option(help="A processing unit (agency code) of a processing officer; repeatable.")
    ] = None,
    service_account: Annotated[
        bool, typer.Option("--service-account", help="No password: the account acts only through its tokens.")
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(help="At least 12 characters, not a common one; asked for when not given."),
    ] = None,
) -> None:
    """Create an account; the password is stored as an Argon2id hash."""
    from hopnhat.db import session_scope
    from hopnhat.identity import service

    if password is None and not service_account:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    with session_scope(engine(ctx)) as session:
        who = _may_manage(ctx, session)
        user = service.add_user(
            session,
            username,
            None if service_account else password,
            role,
            centers=_centers(session, center or []),
            units=unit or [],
        )
        _audit(session, who, "account.create", "account", user.username, role=[None, user.role])
        where = f", {user.center_code}" if user.center_code else ""
        role = value(user.role, lang(ctx))
        console.print(tr("cli_user_added", lang(ctx)).format(user.username, f"{role}{where}"), highlight=False)


@users_app.command("list")
def list_(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The accounts with their roles, centers and units (never the password hash)."""
    from hopnhat.db import session_scope
    from hopnhat.identity import service

    with session_scope(engine(ctx)) as session:
        _may_manage(ctx, session)
        rows: list[dict[str, Any]] = []
        for u in service.list_users(session):
            p = service.principal_for(u, "cli")
            rows.append(
                {
                    "username": u.username,
                    "role": u.role,
                    "roles": sorted(p.roles),
                    "center": u.center_code,
                    "centers": sorted(p.centers),
                    "units": sorted(p.units),
                    "active": u.active,
                    "source": "provider" if u.issuer else "local",
                }
            )
    if json_:
        print_json(rows)
        return
    for row in rows:
        state = "" if row["active"] else "\tdisabled"
        console.print(
            f"{row['username']}\t{row['role']}\t{','.join(row['centers'] + row['units']) or '-'}{state}",
            highlight=False,
        )


@users_app.command("passwd")
def passwd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 12 characters, not a common one."
        ),
    ] = "",
) -> None:
    """Set a new password; every session of the account ends."""
    from hopnhat.db import session_scope
    from hopnhat.identity import service

    with session_scope(engine(ctx)) as session:
        who = _may_manage(ctx, session)
        service.set_password(session, username, password)
        _audit(session, who, "account.password", "account", username)
    console.print(tr("cli_password_changed", lang(ctx)).format(username), highlight=False)


@users_app.command("disable")
def disable(ctx: typer.Context, username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Disable an account: its sessions end and its tokens stop working (``enable`` brings it back)."""
    _set_active(ctx, username, False)


@users_app.command("enable")
def enable(ctx: typer.Context, username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Enable a disabled account again."""
    _set_active(ctx, username, True)


def _set_active(ctx: typer.Context, username: str, active: bool) -> None:
    from hopnhat.db import session_scope
    from hopnhat.identity import service

    word = "enable" if active else "disable"
    with session_scope(engine(ctx)) as session:
        who = _may_manage(ctx, session)
        service.set_active(session, username, active)
        _audit(session, who, f"account.{word}", "account", username, active=[not active, active])
    console.print(tr(f"cli_user_{word}d", lang(ctx)).format(username), highlight=False)


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the token is for (mobile-app, prometheus, relay).")],
    user: Annotated[str, typer.Option("--user", help="The account the token acts as.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="lookup, read, write or admin; repeatable; narrows the account's rights."),
    ],
    days: Annotated[int, typer.Option("--days", help="Days until it expires (1-730).")] = 90,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a token and print it once: only its hash is kept."""
    from hopnhat.db import session_scope
    from hopnhat.identity import service

    with session_scope(engine(ctx)) as session:
        who = _may_manage(ctx, session)
        made = service.create_token(session, user, name, " ".join(scope), days)
        _audit(
            session, who, "token.create", "token", str(made.row.id), user=[None, user], scopes=[None, made.row.scopes]
        )
        out: dict[str, Any] = {
            "id": made.row.id,
            "name": made.row.name,
            "user": user,
            "scopes": made.row.scopes.split(),
            "expires_at": made.row.expires_at.isoformat(),
            "token": made.token,
        }
    if json_:
        print_json(out)
        return
    language = lang(ctx)
    expires = local_time(made.row.expires_at, language)
    console.print(
        tr("cli_token_made", language).format(out["id"], out["name"], " ".join(out["scopes"]), expires),
        highlight=False,
    )
    console.print(made.token, highlight=False, soft_wrap=True)
    console.print(tr("cli_token_keep", language), highlight=False)


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every token: id, name, account, scopes, prefix, expiry, revoked or not, last use (never the token)."""
    from hopnhat.db import session_scope
    from hopnhat.identity import service
    from hopnhat.identity.models import User

    with session_scope(engine(ctx)) as session:
        _may_manage(ctx, session)
        rows: list[dict[str, Any]] = []
        for t in service.list_tokens(session):
            owner = session.get(User, t.user_id)
            rows.append(
                {
                    "id": t.id,
                    "name": t.name,
                    "user": owner.username if owner else None,
                    "scopes": t.scopes.split(),
                    "prefix": t.prefix,
                    "expires_at": t.expires_at.isoformat(),
                    "revoked": t.revoked_at is not None,
                    "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                }
            )
    if json_:
        print_json(rows)
        return
    from datetime import datetime

    language = lang(ctx)

    def when(iso: str | None) -> str:
        return local_time(datetime.fromisoformat(iso), language) if iso else "-"

    print_table(
        table(
            language, "cli_id", "cli_name", "cli_account", "cli_scopes", "cli_prefix", "cli_expires", "cli_last_used"
        ),
        (
            [
                str(r["id"]),
                str(r["name"]),
                str(r["user"] or "-"),
                " ".join(r["scopes"]),
                f"{r['prefix']}…",
                tr("cli_revoked", language) if r["revoked"] else when(r["expires_at"]),
                when(r["last_used_at"]),
            ]
            for r in rows
        ),
    )
    console.print(count(len(rows), "cli_n_tokens", language), highlight=False)


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once."""
    from hopnhat.db import session_scope
    from hopnhat.identity import service

    with session_scope(engine(ctx)) as session:
        who = _may_manage(ctx, session)
        service.revoke_token(session, token_id)
        _audit(session, who, "token.revoke", "token", str(token_id))
    console.print(tr("cli_token_revoked", lang(ctx)).format(token_id), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


__all__ = ["register"]
