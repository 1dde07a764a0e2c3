"""Plain factories for principals, accounts and tokens in tests (no fixtures: call them where needed)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.identity import service
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Role, Scope

PASSWORD = "correct-horse-battery-staple-42"
"""A password the policy accepts (long, not common, not the username)."""

_seq = itertools.count(1)


def principal(
    role: Role | str = Role.ADMINISTRATOR,
    *,
    centers: Iterable[str] = (),
    units: Iterable[str] = (),
    username: str | None = None,
    scopes: Iterable[Scope | str] | None = None,
) -> Principal:
    """A principal for service-level tests (no account in the store)."""
    parsed = Role(role)
    return Principal(
        username=username or f"{parsed.value}-{next(_seq)}",
        roles=frozenset({parsed}),
        centers=frozenset(centers),
        units=frozenset(units),
        via="cli",
        scopes=None if scopes is None else frozenset(Scope(s) for s in scopes),
    )


def add_account(
    session: Session,
    role: Role | str,
    *,
    username: str | None = None,
    centers: Iterable[str] = (),
    units: Iterable[str] = (),
    password: str | None = PASSWORD,
) -> str:
    """Create an account and return its username."""
    name = username or f"{Role(role).value}-{next(_seq)}"
    service.add_user(session, name, password, Role(role).value, centers=list(centers), units=list(units))
    return name


def token_for(
    engine: Engine,
    role: Role | str = Role.ADMINISTRATOR,
    *,
    scopes: str = "admin",
    centers: Iterable[str] = (),
    units: Iterable[str] = (),
    username: str | None = None,
) -> str:
    """A machine token of a new account with ``role`` (committed), for API calls: ``headers=bearer(token)``."""
    with Session(engine) as session:
        name = add_account(session, role, username=username, centers=centers, units=units, password=None)
        wanted = scopes if Role(role) is Role.ADMINISTRATOR or "admin" not in scopes else "write"
        made = service.create_token(session, name, "test", wanted)
        session.commit()
        return made.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(engine: Engine) -> dict[str, str]:
    return bearer(token_for(engine, Role.ADMINISTRATOR, scopes="admin"))


def signin(client: object, username: str, password: str = PASSWORD, next: str = "/") -> object:
    """Sign in through the real form (GET for its CSRF token and cookie, then POST), returning the POST's response."""
    import re

    page = client.get("/signin")  # type: ignore[attr-defined]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the sign-in form carries a CSRF token"
    return client.post(  # type: ignore[attr-defined]
        "/signin", data={"username": username, "password": password, "next": next, "csrf": found.group(1)}
    )


def page_csrf(client: object, path: str = "/lookup") -> str:
    """The session's CSRF token, read from a page's sign-out form."""
    import re

    page = client.get(path)  # type: ignore[attr-defined]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, f"{path} carries the session's CSRF token"
    return found.group(1)
