"""Alembic driven from code: the migrations ship inside the package so an installed hopnhat can build its store."""

from __future__ import annotations

from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "hopnhat:migrations")
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to ``revision`` unless the store is already there (cheap check first: this runs on every command)."""
    if revision == "head" and current_revision(engine) == head_revision(engine):
        return
    command.upgrade(alembic_config(engine), revision)


def upgrade_sql(engine: Engine, out: TextIO) -> None:
    """Write the SQL that would bring the store from its revision to the head, without touching the store."""
    from hopnhat.db import stored_revisions

    stored = sorted(stored_revisions(engine))
    target = f"{stored[0]}:head" if len(stored) == 1 else "head"
    cfg = alembic_config(engine)
    cfg.output_buffer = out
    command.upgrade(cfg, target, sql=True)
