"""The foundation's promises: documented settings, migrations that match the models on both backends, and a CLI
that answers every user mistake with one line."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.config import Settings
from hopnhat.db import Base, import_all_models

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f"HOPNHAT_{name.upper()}" for name in Settings.model_fields if f"HOPNHAT_{name.upper()}" not in readme]
    assert missing == []


def test_migrations_match_models(engine: Engine) -> None:
    """A model changed without its migration shows up here, on SQLite and on PostgreSQL."""
    import_all_models()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_first_command_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{db}", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    assert db.exists()


def test_unreachable_store_is_one_line_not_a_traceback() -> None:
    result = CliRunner().invoke(app, ["--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "db", "upgrade"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "cannot be reached" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_framework_errors_keep_the_api_error_shape(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hopnhat.app import create_app
    from hopnhat.config import Settings

    client = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/s.db")))
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = client.delete("/api/v1/health")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"error", "detail"}
    garbled = client.post(
        "/api/v1/addresses/convert", content=b'{"addresses": ["\xff\xfe"]', headers={"content-type": "application/json"}
    )
    assert garbled.status_code in (400, 422)
    assert set(garbled.json()) == {"error", "detail"}


def test_the_heads_read_from_the_migration_files_are_alembics(engine: Engine) -> None:
    """Start-up recognises a store at the newest revision without Alembic: it must agree with Alembic on what the
    newest revision is, and on whether the store is there."""
    from alembic.script import ScriptDirectory

    from hopnhat.db import _at_head, head_revisions
    from hopnhat.migrate import alembic_config, current_revision

    assert head_revisions() == set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    assert _at_head(engine) == (current_revision(engine) in head_revisions())
    assert _at_head(engine)
