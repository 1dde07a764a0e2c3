"""Explicit migrations: PostgreSQL refuses a behind or empty store (commands and serve); SQLite creates and upgrades
by itself, keeping a copy; a store with data goes forward from the previous release's revision on both backends."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, func, insert, select
from sqlalchemy.orm import Session

from hopnhat.config import get_settings
from hopnhat.db import SchemaBehind, check_schema, head_revisions, make_engine, stored_revisions
from hopnhat.migrate import alembic_config, upgrade
from hopnhat.store.models import Dossier
from tests.conftest import BACKENDS
from tests.http_support import free_port
from tests.ops.support import HOPNHAT, run

PREVIOUS_RELEASE = "0005"
"""The head when "Running it at the city's data center" began: the schema a store in service has today."""


def _behind(url: str) -> str:
    """Build the store at the revision just before this hopnhat's head; returns that revision."""
    engine = make_engine(url)
    script = ScriptDirectory.from_config(alembic_config(engine))
    head = script.get_revision(script.get_current_head())
    assert head is not None and isinstance(head.down_revision, str)
    upgrade(engine, head.down_revision)
    engine.dispose()
    return head.down_revision


@pytest.mark.parametrize("new_store_url", ["postgresql"], indirect=True)
def test_a_behind_postgresql_store_is_refused_by_commands_and_serve_until_db_upgrade(new_store_url: str) -> None:
    empty = run(new_store_url, "audit", "verify")
    assert empty.returncode == 1
    assert "the store is empty (no schema): run `hopnhat db upgrade`" in empty.stderr
    revision = _behind(new_store_url)

    command = run(new_store_url, "audit", "verify")
    assert command.returncode == 1
    assert f"the store is at revision {revision}" in command.stderr
    assert "hopnhat db upgrade" in command.stderr
    served = subprocess.run(  # a real server process: refused before it listens
        [HOPNHAT, "--db", new_store_url, "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 1
    assert "hopnhat db upgrade" in served.stderr
    with pytest.raises(SchemaBehind, match="hopnhat db upgrade"):
        from hopnhat.app import create_app

        create_app(get_settings(database_url=new_store_url))
    engine = make_engine(new_store_url)
    assert stored_revisions(engine) == {revision}  # nothing migrated behind the operator's back
    engine.dispose()

    current = run(new_store_url, "db", "current")
    assert current.returncode == 0 and "behind: run hopnhat db upgrade" in current.stdout
    sql = run(new_store_url, "db", "upgrade", "--sql")
    assert sql.returncode == 0 and "UPDATE alembic_version" in sql.stdout
    upgraded = run(new_store_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert run(new_store_url, "audit", "verify").returncode == 0


def test_sqlite_creates_its_store_and_upgrades_a_behind_one_after_a_copy(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    created = run(f"sqlite:///{fresh}", "audit", "verify")
    assert created.returncode == 0, created.stderr
    assert "audit chain intact" in created.stdout

    behind = tmp_path / "behind.db"
    revision = _behind(f"sqlite:///{behind}")
    done = run(f"sqlite:///{behind}", "audit", "verify")
    assert done.returncode == 0, done.stderr
    engine = make_engine(f"sqlite:///{behind}")
    assert stored_revisions(engine) == head_revisions()
    engine.dispose()
    copy = tmp_path / f"behind.db.before-{revision}"
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(revision,)]


def test_a_store_from_a_newer_hopnhat_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'newer.db'}")
    check_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaBehind, match="does not know"):
        check_schema(engine)
    engine.dispose()


@pytest.mark.parametrize("new_store_url", BACKENDS, indirect=True)
def test_a_store_with_data_goes_forward_from_the_previous_release(new_store_url: str) -> None:
    engine = make_engine(new_store_url)
    upgrade(engine, PREVIOUS_RELEASE)
    received = datetime(2025, 7, 2, 2, 0, tzinfo=UTC)
    with engine.begin() as conn:
        # Written through the tables as they were at that revision, not through today's models.
        dossier = Table("store_dossier", MetaData(), autoload_with=conn)
        step = Table("store_processing_step", MetaData(), autoload_with=conn)
        for n in range(1, 6):
            conn.execute(
                insert(dossier).values(
                    id=n,
                    code=f"000.00.31.H13-250702-{n:04d}",
                    province_code="92",
                    procedure_code="1.001193",
                    applicant_type=1,
                    applicant_name=f"Trần Văn Bình {n}",
                    channel=1,
                    status=2,
                    received_at=received.replace(tzinfo=None),
                    needs_review=False,
                    origin="migrated",
                    notice_consent=False,
                    vneid_signin=False,
                    paid_online=False,
                    digitised_documents=0,
                    created_at=received.replace(tzinfo=None),
                    updated_at=received.replace(tzinfo=None),
                )
            )
            conn.execute(
                insert(step).values(dossier_id=n, seq=1, at=received.replace(tzinfo=None), actor="cantho", to_status=2)
            )
        before = conn.execute(select(dossier).order_by(dossier.c.id)).all()
    from hopnhat.db import ensure_schema

    ensure_schema(engine)
    check_schema(engine)  # at head now: every command accepts it
    with Session(engine) as session:
        kept = session.scalars(select(Dossier).order_by(Dossier.id)).all()
        assert [(d.code, d.applicant_name, d.status, d.received_at) for d in kept] == [
            (row.code, row.applicant_name, row.status, received) for row in before
        ]
        assert all(len(d.steps) == 1 for d in kept)
        assert session.scalar(select(func.count()).select_from(Dossier)) == 5
    engine.dispose()
