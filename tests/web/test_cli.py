"""``hopnhat users``: add, list, passwd, with one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.continuity.models import Center
from hopnhat.db import make_engine, session_scope
from hopnhat.web.auth import authenticate

runner = CliRunner()
CENTER = "000.00.31.H92"


def test_users_add_list_passwd(store_url: str) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        session.add(Center(code="31120", name="Trung tâm Phục vụ hành chính công Phường Cái Khế", agency_code=CENTER))
    engine.dispose()
    base = ["--db", store_url, "users"]
    unknown = runner.invoke(
        app, [*base, "add", "chi.nguyen", "--role", "center_officer", "--center", "31999", "--password", "mat-khau-1"]
    )
    assert unknown.exit_code != 0
    assert "'31999' is neither the agency code nor the commune code" in unknown.output
    assert "Traceback" not in unknown.output
    added = runner.invoke(
        app,
        [*base, "add", "chi.nguyen", "--role", "center_officer", "--center", "31120"],
        input="mat-khau-1\nmat-khau-1\n",
    )
    assert added.exit_code == 0, added.output
    assert CENTER in added.output
    listed = runner.invoke(app, [*base, "list", "--json"])
    assert json.loads(listed.stdout) == [
        {"username": "chi.nguyen", "role": "center_officer", "center": CENTER, "active": True}
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
