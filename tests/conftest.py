"""Shared fixtures. One parametrised fixture runs every database test on SQLite and on PostgreSQL.

PostgreSQL tests use a database of their own, created for the test session and dropped after it, on the server at
``HOPNHAT_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432``). If that server is down the
PostgreSQL half fails loudly (it is never skipped silently on CI: ``.ci/run`` starts the server).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from hopnhat.db import ensure_schema, make_engine

PG_SERVER = os.environ.get("HOPNHAT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
BACKENDS = [b for b in os.environ.get("HOPNHAT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _create_pg_database() -> str:
    name = f"hopnhat_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_SERVER}/{name}"


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def new_store_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty store URL for one test (a SQLite file, or a new PostgreSQL database).

    Use with ``@pytest.mark.parametrize("new_store_url", BACKENDS, indirect=True)`` or through ``store_url``.
    """
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = _create_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(url)


class _Templates:
    """A migrated store per backend, made once per worker and copied for each test that asks for a fresh one: a
    migration takes 1-2.5 s (more on PostgreSQL), a copy a few milliseconds. The copy is the same store: the same
    schema and revision, no rows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.pg: str | None = None

    def sqlite_copy(self, dest: Path) -> None:
        if self.sqlite is None:
            path = self.folder / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            ensure_schema(engine)
            engine.dispose()
            self.sqlite = path
        # The backup API, not a file copy: it reads the store through SQLite, whatever its journal holds.
        with closing(sqlite3.connect(self.sqlite)) as src, closing(sqlite3.connect(dest)) as dst:
            src.backup(dst)

    def pg_copy(self) -> str:
        if self.pg is None:
            url = _create_pg_database()
            engine = make_engine(url)
            ensure_schema(engine)
            engine.dispose()
            self.pg = url
        template = self.pg.rsplit("/", 1)[1]
        name = f"hopnhat_t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        return f"{PG_SERVER}/{name}"


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    templates = _Templates(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        if templates.pg is not None:
            _drop_pg_database(templates.pg)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path, _templates: _Templates) -> Iterator[str]:
    """A fresh migrated store URL, once per backend: for tests that commit or start other processes."""
    if request.param == "sqlite":
        _templates.sqlite_copy(tmp_path / "store.db")
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = _templates.pg_copy()
    try:
        yield url
    finally:
        _drop_pg_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated engine per backend, shared by the session; tests isolate through ``db`` (rolled back)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'shared.db'}")
        ensure_schema(eng)
        yield eng
        eng.dispose()
        return
    url = _create_pg_database()
    eng = make_engine(url)
    try:
        ensure_schema(eng)
        yield eng
    finally:
        eng.dispose()
        _drop_pg_database(url)


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; ``commit()`` becomes a savepoint."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="session")
def registry_engine(request: pytest.FixtureRequest, engine: Engine) -> Engine:
    """The session engine with the bundled registry loaded (committed once; registry tests only read it)."""
    from hopnhat.db import session_scope
    from hopnhat.registry.loader import load_bundled

    with session_scope(engine) as session:
        load_bundled(session)
    return engine


@pytest.fixture
def rdb(registry_engine: Engine) -> Iterator[Session]:
    """Like ``db`` but on a store that holds the bundled registry."""
    connection = registry_engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
