"""``hopnhat users``: add, list, passwd, with one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.db import make_engine, session_scope
from hopnhat.web.auth import authenticate

runner = CliRunner()


def test_users_add_list_passwd(store_url: str) -> None:
    base = ["--db", store_url, "users"]
    added = runner.invoke(
        app,
        [*base, "add", "chi.nguyen", "--role", "center_officer", "--center", "000.00.31.H92"],
        input="mat-khau-1\nmat-khau-1\n",
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, [*base, "list", "--json"])
    assert json.loads(listed.stdout) == [
        {"username": "chi.nguyen", "role": "center_officer", "center": "000.00.31.H92", "active": True}
    ]
    assert "scrypt" not in listed.stdout
    changed = runner.invoke(app, [*base, "passwd", "chi.nguyen", "--password", "mat-khau-2"])
    assert changed.exit_code == 0, changed.output
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        assert authenticate(session, "chi.nguyen", "mat-khau-2") is not None
        assert authenticate(session, "chi.nguyen", "mat-khau-1") is None
    engine.dispose()


def test_users_errors_are_one_line(store_url: str) -> None:
    base = ["--db", store_url, "users"]
    missing = runner.invoke(app, [*base, "passwd", "nobody", "--password", "mat-khau-2"])
    assert missing.exit_code == 1
    assert "user nobody does not exist" in missing.output
    assert "Traceback" not in missing.output
    bad_role = runner.invoke(app, [*base, "add", "x", "--role", "boss", "--password", "mat-khau-1"])
    assert bad_role.exit_code == 1 and "role 'boss'" in bad_role.output
