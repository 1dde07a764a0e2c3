"""``hopnhat users``: add, list, passwd, with one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.continuity.models import Center
from hopnhat.db import make_engine, session_scope
from hopnhat.errors import InvalidInput
from hopnhat.identity.service import authenticate
from tests.identity_support import token_for

runner = CliRunner()
CENTER = "000.00.31.H92"
FIRST = "mat-khau-dau-tien-1"
SECOND = "mat-khau-thu-hai-22"


def test_users_add_list_passwd(store_url: str) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        session.add(Center(code="31120", name="Trung tâm Phục vụ hành chính công Phường Cái Khế", agency_code=CENTER))
    # Only an administrator manages accounts; on PostgreSQL the CLI proves who it is with a token.
    admin = CliRunner(env={"HOPNHAT_TOKEN": token_for(engine, "administrator", username="cli-admin")})
    engine.dispose()
    base = ["--db", store_url, "users"]
    unknown = admin.invoke(
        app, [*base, "add", "chi.nguyen", "--role", "center_officer", "--center", "31999", "--password", FIRST]
    )
    assert unknown.exit_code != 0
    assert "'31999' is neither the agency code nor the commune code" in unknown.output
    assert "Traceback" not in unknown.output
    added = admin.invoke(
        app,
        [*base, "add", "chi.nguyen", "--role", "center_officer", "--center", "31120"],
        input=f"{FIRST}\n{FIRST}\n",
    )
    assert added.exit_code == 0, added.output
    assert CENTER in added.output
    listed = admin.invoke(app, [*base, "list", "--json"])
    rows = {row["username"]: row for row in json.loads(listed.stdout)}
    assert rows["chi.nguyen"] == {
        "username": "chi.nguyen",
        "role": "center_officer",
        "roles": ["center_officer"],
        "center": CENTER,
        "centers": [CENTER],
        "units": [],
        "active": True,
        "source": "local",
    }
    assert "argon2" not in listed.stdout and "scrypt" not in listed.stdout
    changed = admin.invoke(app, [*base, "passwd", "chi.nguyen", "--password", SECOND])
    assert changed.exit_code == 0, changed.output
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        assert authenticate(session, "chi.nguyen", SECOND, "127.0.0.1").username == "chi.nguyen"
        with pytest.raises(InvalidInput, match="wrong username or password"):
            authenticate(session, "chi.nguyen", FIRST, "127.0.0.1")
    engine.dispose()


def test_users_errors_are_one_line(store_url: str) -> None:
    base = ["--db", store_url, "users"]
    missing = runner.invoke(app, [*base, "passwd", "nobody", "--password", SECOND])
    assert missing.exit_code == 1
    assert "user nobody does not exist" in missing.output
    assert "Traceback" not in missing.output
    bad_role = runner.invoke(app, [*base, "add", "x", "--role", "boss", "--password", FIRST])
    assert bad_role.exit_code == 1 and "role 'boss'" in bad_role.output
    short = runner.invoke(app, [*base, "add", "x", "--role", "administrator", "--password", "mat-khau-1"])
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert "Traceback" not in short.output
