"""Engine factory, declarative base and transaction scope.

The engine is made by ``create_app()`` or the CLI callback, never at import time. SQLite is the embedded default
(WAL, one writer, a busy timeout so a second process waits instead of failing); PostgreSQL is production.
No PostgreSQL-only column types are used in core tables, so the same schema and migrations run on both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from hopnhat.errors import HopnhatError

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table; the naming convention keeps constraint names stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored as UTC.

    SQLite has no time zone type, so values are normalised to UTC on the way in and come back aware (UTC) on both
    backends; callers convert to Vietnam time for display. Naive datetimes are refused: a naive value in a
    multi-province system is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: hopnhat stores aware instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url`` with the settings each backend needs. Statement parameters are hidden from
    SQLAlchemy's error messages: they carry applicants' names and ID numbers, and an error message may reach a log."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Pessimistic disconnect handling by default: a worker that runs for days survives a database restart.
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit once at the end, roll back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def utcnow() -> datetime:
    return datetime.now(UTC)


def import_all_models() -> None:
    """Import every part's models so ``Base.metadata`` knows all tables (for Alembic and tests)."""
    import importlib
    import pkgutil

    import hopnhat

    for module in pkgutil.walk_packages(hopnhat.__path__, "hopnhat."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)


def ensure_schema(engine: Engine) -> None:
    """Bring the store to the newest migration: ``hopnhat db upgrade``, the test fixtures, a new SQLite store.

    On PostgreSQL an advisory lock keeps two processes that upgrade at once from migrating at the same time.
    A store already at the newest revision is recognised without importing Alembic.
    """
    if _at_head(engine):
        return
    from hopnhat.migrate import upgrade

    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7215001)"))
            try:
                upgrade(engine)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7215001)"))
                conn.commit()
    else:
        upgrade(engine)


class SchemaBehind(HopnhatError):
    """The store's schema is not the one this hopnhat was built for; only ``hopnhat db upgrade`` may change it."""

    status_code = 503
    code = "schema_behind"


def check_schema(engine: Engine) -> None:
    """What every command and the web app do before using the store (ARCHITECTURE, "Schema behind").

    PostgreSQL, the production store, is never migrated behind the operator's back: a store with no schema or an
    older revision is refused with the command that upgrades it, so an upgrade happens when an operator decides
    (after a backup), not when someone first runs a new version. The embedded SQLite store creates its schema on
    first use, and a behind one is upgraded after a copy of the file is kept beside it. A store from a newer
    hopnhat is refused on both: this version cannot know what those revisions did.
    """
    stored = stored_revisions(engine)
    heads = head_revisions()
    if stored == heads:
        return
    known = known_revisions()
    newer = stored - known
    if newer:
        raise SchemaBehind(
            f"the store is at revision {', '.join(sorted(newer))}, which this hopnhat does not know "
            f"(its newest is {', '.join(sorted(heads))}): run the hopnhat that upgraded it, or restore a backup"
        )
    if engine.dialect.name != "sqlite":
        if not stored:
            raise SchemaBehind("the store is empty (no schema): run `hopnhat db upgrade` to create it")
        raise SchemaBehind(
            f"the store is at revision {', '.join(sorted(stored))}, this hopnhat needs revision "
            f"{', '.join(sorted(heads))}: back it up (hopnhat db backup), then run `hopnhat db upgrade`"
        )
    if stored:
        kept = _copy_sqlite_beside(engine, "-".join(sorted(stored)))
        if kept is not None:
            log.warning("store behind (revision %s): kept a copy at %s before upgrading", ", ".join(stored), kept)
    ensure_schema(engine)


def _copy_sqlite_beside(engine: Engine, revision: str) -> str | None:
    """Copy the SQLite file next to itself (``<file>.before-<revision>``) with SQLite's online backup."""
    import sqlite3
    from pathlib import Path

    database = engine.url.database
    if not database or database == ":memory:":
        return None
    target = Path(f"{database}.before-{revision}")
    n = 1
    while target.exists():
        n += 1
        target = Path(f"{database}.before-{revision}.{n}")
    source = sqlite3.connect(database)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        copy.close()
        source.close()
    return str(target)


def stored_revisions(engine: Engine) -> set[str]:
    """The revisions recorded in the store (empty: no schema yet)."""
    try:
        with engine.connect() as conn:
            return {str(row[0]) for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError as exc:
        if _unreachable(exc):
            raise
        return set()  # no version table: an empty store


def _unreachable(exc: SQLAlchemyError) -> bool:
    """Whether the error is "cannot connect" rather than "no such table" (the store is down, not empty)."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig).lower()
    return "no such table" not in message and "does not exist" not in message


_REVISION = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(.+)$", re.MULTILINE)


def _revision_graph() -> tuple[set[str], set[str]]:
    """Every revision and every revision some migration builds on, read from the migration files themselves (their
    ``revision`` / ``down_revision`` lines, which ``tools/new_migration.py`` writes)."""
    import ast
    from importlib import resources

    revisions: set[str] = set()
    parents: set[str] = set()
    for entry in resources.files("hopnhat.migrations").joinpath("versions").iterdir():
        if not entry.name.endswith(".py"):
            continue
        for name, value in _REVISION.findall(entry.read_text(encoding="utf-8")):
            found = ast.literal_eval(value.strip())
            values = found if isinstance(found, tuple | list) else (found,)
            (revisions if name == "revision" else parents).update(str(v) for v in values if v)
    return revisions, parents


def head_revisions() -> set[str]:
    """The revisions no other migration builds on: the schema this hopnhat was built for."""
    revisions, parents = _revision_graph()
    return revisions - parents


def known_revisions() -> set[str]:
    """Every revision this hopnhat ships."""
    return _revision_graph()[0]


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            stored = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return False  # no store yet, or no version table: let Alembic build it
    heads = head_revisions()
    return bool(heads) and stored == heads


__all__ = [
    "Base",
    "SchemaBehind",
    "UTCDateTime",
    "check_schema",
    "ensure_schema",
    "import_all_models",
    "make_engine",
    "make_sessionmaker",
    "session_scope",
    "stored_revisions",
    "utcnow",
]
