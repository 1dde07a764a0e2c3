"""``hopnhat users``: local accounts of the web pages (add, list, passwd)."""

from __future__ import annotations

from typing import Annotated

import typer

# The store is imported inside the commands: every ``hopnhat`` call imports this file.
from hopnhat.cli_support import console, engine, print_json

users_app = typer.Typer(help="Accounts of the web pages: administrators, department operators, center officers.")


@users_app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Sign-in name (letters, digits, '.', '_', '-').")],
    role: Annotated[
        str, typer.Option(help="administrator, department_operator or center_officer.")
    ] = "department_operator",
    center: Annotated[
        str | None,
        typer.Option(
            help="The officer's service center: its agency code (001.01.60.H13) or its commune code (31120); "
            "the agency code is stored (center officers only).",
        ),
    ] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters.")
    ] = "",
) -> None:
    """Create an account; the password is stored as a salted scrypt hash."""
    from hopnhat.db import session_scope
    from hopnhat.web.auth import add_user

    with session_scope(engine(ctx)) as session:
        user = add_user(session, username, password, role, center)
        console.print(f"user {user.username} added ({user.role}{', ' + user.center_code if user.center_code else ''})")


@users_app.command("list")
def list_(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The accounts with their role and center (never the password hash)."""
    from hopnhat.db import session_scope
    from hopnhat.web.auth import list_users

    with session_scope(engine(ctx)) as session:
        rows = [
            {"username": u.username, "role": u.role, "center": u.center_code, "active": u.active}
            for u in list_users(session)
        ]
    if json_:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['username']}\t{row['role']}\t{row['center'] or '-'}", highlight=False)


@users_app.command("passwd")
def passwd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters.")
    ] = "",
) -> None:
    """Set a new password."""
    from hopnhat.db import session_scope
    from hopnhat.web.auth import set_password

    with session_scope(engine(ctx)) as session:
        set_password(session, username, password)
    console.print(f"password of {username} changed")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


__all__ = ["register"]
