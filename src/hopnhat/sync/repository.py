"""Every query of the sync."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

try:
    import fcntl
except ImportError:  # Windows: the SQLite gate then relies on SQLite's own lock alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from hopnhat.db import UTCDateTime
from hopnhat.store.models import Dossier
from hopnhat.sync.models import (
    QuarantinedRecord,
    SourceCopy,
    SourceIdentity,
    SyncCursor,
    SyncLock,
    SyncRun,
    SyncRunSource,
)

IN_CHUNK = 5000
"""Keys per ``IN (...)`` lookup: well under SQLite's and PostgreSQL's limits on bound parameters."""

DOSSIERS: Table = Dossier.__table__  # type: ignore[assignment]
COPIES: Table = SourceCopy.__table__  # type: ignore[assignment]


def _chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    keys = list(keys)
    for i in range(0, len(keys), IN_CHUNK):
        yield keys[i : i + IN_CHUNK]


class DossierHead(NamedTuple):
    """What deduplication needs of a stored dossier (not the whole row)."""

    id: int
    code: str
    row_hash: str | None
    source_name: str | None
    source_updated: str | None
    applicant_id_number: str | None
    province_code: str
    received_at: datetime
    """With ``province_code``: indexed columns an update leaves out when they hold the new values already (see
    :func:`update_dossiers`)."""
    owned_here_at: datetime | None = None
    """Set once hopnhat owns the dossier: the sync then flags a change of the source, never applies it."""


def _among(session: Session, column: ColumnElement[Any]) -> tuple[ColumnElement[bool], Callable[[list[str]], Any]]:
    """``column IN <keys>`` with the keys bound as ONE parameter where the backend can (a JSON array on SQLite, an
    array on PostgreSQL), and the function that turns a list of keys into that parameter. Binding thousands of
    separate parameters costs SQLAlchemy a few microseconds per key on every lookup."""
    dialect = session.connection().dialect.name
    if dialect == "sqlite":
        keys: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam("keys")))
        return column.in_(keys.scalar_subquery()), json.dumps
    if dialect == "postgresql":
        return column == any_(bindparam("keys", type_=ARRAY(String))), list
    return column.in_(bindparam("keys", expanding=True)), list


def dossier_heads(session: Session, codes: Iterable[str]) -> list[DossierHead]:
    found: list[DossierHead] = []
    among, keys = _among(session, DOSSIERS.c.code)
    # Core columns, not the ORM entity's (no ORM row loading), and the one key of ``extra`` read in SQL instead of
    # the whole JSON decoded per row: 97 ms instead of 110 ms for 5,000 codes on the 1M store.
    t = DOSSIERS.c
    query = select(
        t.id,
        t.code,
        t.row_hash,
        t.source_name,
        t.extra["source_updated"].as_string(),
        t.applicant_id_number,
        t.province_code,
        t.received_at,
        t.owned_here_at,
    ).where(among)
    for chunk in _chunks(codes):
        found.extend(DossierHead(*row) for row in session.execute(query, {"keys": keys(chunk)}))
    return found


class CopyHead(NamedTuple):
    """What the sync needs of a stored copy."""

    id: int
    row_hash: str
    source_updated: str | None
    raw_hash: str | None
    dossier_code: str


def copy_heads(session: Session, source: str, ids: Iterable[str]) -> dict[str, CopyHead]:
    """source id -> :class:`CopyHead` of the copies already stored."""
    found: dict[str, CopyHead] = {}
    among, keys = _among(session, COPIES.c.source_id)
    t = COPIES.c
    query = select(t.source_id, t.id, t.row_hash, t.source_updated, t.raw_hash, t.dossier_code).where(
        t.source == bindparam("source"), among
    )
    for chunk in _chunks(ids):
        for sid, pk, digest, stamp, check, code in session.execute(query, {"source": source, "keys": keys(chunk)}):
            found[sid] = CopyHead(pk, digest, stamp, check, code)
    return found


def _sqlite_time(value: datetime) -> str:
    # Exactly what SQLAlchemy's UTCDateTime + SQLite DATETIME write: naive UTC, microseconds, a space separator.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _converters(table: Table, names: list[str], dialect: str) -> list[tuple[int, Callable[[Any], Any]]]:
    """Python value -> what the driver takes, for the columns that need it (the others pass as they are)."""
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        kind = table.c[name].type
        if isinstance(kind, UTCDateTime):
            if dialect == "sqlite":
                found.append((i, _sqlite_time))
            elif dialect == "postgresql":
                found.append((i, _aware))
        elif isinstance(kind, JSON):
            found.append((i, _json_text))
    return found


_encode = json.encoder.encode_basestring_ascii


def _json_text(value: Any) -> str:
    """``json.dumps(value)``; a flat object of texts (the sync's ``extra``) is written directly, several times
    faster than the encoder's per-call set-up."""
    if type(value) is not dict:
        return json.dumps(value)
    parts = []
    for k, v in value.items():
        if type(k) is not str or not (v is None or type(v) is str):
            return json.dumps(value)
        parts.append(f"{_encode(k)}: {'null' if v is None else _encode(v)}")
    return "{" + ", ".join(parts) + "}"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: hopnhat stores aware instants only")
    return value


_TIMES_MAX = 65_536


def row_encoder(table: Table, names: list[str], dialect: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    """Row (a mapping with exactly ``names``) -> the list of values the driver's bulk path takes, converted the way
    the column types would (times in UTC, JSON as text), so a row written either way reads back the same.

    Not SQLAlchemy's per-parameter bind processing: it costs more per row than the whole rest of a sync. The
    encoder keeps what it converted: consecutive rows often share a value object (a batch's timestamps), and times
    repeat beyond that (due dates, a finish that is the return); SQLite's text of an aware time depends on its
    instant only, so it is looked up by value. Equal aware datetimes are the same instant except across a fold (a
    repeated wall-clock hour compares equal whatever its fold), hence fold 0 only."""
    converters = _converters(table, names, dialect)
    last: dict[int, tuple[Any, Any]] = {}
    times: dict[datetime, str] = {}
    pick = itemgetter(*names)
    single = len(names) == 1

    def encode(row: Mapping[str, Any]) -> list[Any]:
        values = [pick(row)] if single else list(pick(row))
        for i, convert in converters:
            value = values[i]
            if value is None:
                continue
            if convert is _sqlite_time and value.tzinfo is not None and not value.fold:
                text = times.get(value)
                if text is None:
                    if len(times) >= _TIMES_MAX:
                        times.clear()
                    text = times[value] = _sqlite_time(value)
                values[i] = text
                continue
            before = last.get(i)
            if before is not None and before[0] is value:
                values[i] = before[1]
            else:
                values[i] = converted = convert(value)
                last[i] = (value, converted)
        return values

    return encode


def insert_encoded(session: Session, table: Table, names: list[str], data: list[list[Any]]) -> None:
    """Insert rows already in :func:`row_encoder` form through the backend's bulk path: one ``executemany`` of the
    driver on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL, a Core executemany elsewhere."""
    if not data:
        return
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        conn.execute(insert(table), [dict(zip(names, values, strict=True)) for values in data])
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    target = quote(table.name)
    driver: Any = conn.connection.driver_connection
    if dialect == "sqlite":
        driver.executemany(f"INSERT INTO {target} ({columns}) VALUES ({', '.join('?' * len(names))})", data)
        return
    with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for values in data:
            copy.write_row(values)


def _update_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows keyed by ``id``, each with the columns it sets, each id at most once (the groups are not applied in the
    order of ``rows``): one ``executemany`` per distinct set of columns, of the driver on SQLite and PostgreSQL with
    the values encoded as :func:`row_encoder` does (SQLAlchemy's bind processing per parameter was most of an
    incremental run's updates), a Core executemany elsewhere."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(k for k in row if k != "id"), []).append(row)
    for columns, group in groups.items():
        _update_group(session, table, list(columns), group)


def _update_group(session: Session, table: Table, columns: list[str], rows: list[dict[str, Any]]) -> None:
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        names = [*columns, "id"]
        encode = row_encoder(table, names, dialect)
        quote = conn.dialect.identifier_preparer.quote
        mark = "?" if dialect == "sqlite" else "%s"
        assignments = ", ".join(f"{quote(name)} = {mark}" for name in columns)
        sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE id = {mark}"
        driver: Any = conn.connection.driver_connection
        if dialect == "sqlite":
            driver.executemany(sql, [encode(row) for row in rows])
        else:
            with driver.cursor() as cursor:
                cursor.executemany(sql, [encode(row) for row in rows])
        return
    statement = (
        update(table)
        .where(table.c.id == bindparam("pk"))
        .values({k: bindparam(k) for k in columns})
        .execution_options(synchronize_session=False)
    )
    session.execute(statement, [{"pk": r["id"], **{k: r[k] for k in columns}} for r in rows])


def update_dossiers(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rows keyed by ``id``, each with the columns to set. Leave out an indexed column whose stored value is the new
    one already: the backends rewrite the index entries of every column an UPDATE sets, changed or not, and on
    SQLite an update of 5,000 dossiers that leaves code, province and receipt time out costs 38 % less (the rows
    and the pages of those three indexes it no longer writes at the commit)."""
    _update_many(session, DOSSIERS, rows)


def update_copies(session: Session, rows: list[dict[str, Any]]) -> None:
    """Like :func:`update_dossiers`, for copies."""
    _update_many(session, COPIES, rows)


def _column_rows(session: Session, query: Select[Any], chunk: int = 20_000) -> Iterator[Sequence[Any]]:
    """Rows of a plain column query (text and number columns) in chunks, straight from the driver's cursor:
    SQLAlchemy's per-row result processing costs more than reading the row, and these columns need none of it.
    The parameters are bound in the driver's own style, as SQLAlchemy compiled them (inlined with ``literal_binds``
    they were read back wrong by psycopg: a ``%`` in a source name came out ``%%``). The callers keep every row
    anyway, so a driver that buffers the result client-side costs no more than they do."""
    conn = session.connection()
    # render_postcompile: an IN over a list is an "expanding" parameter, written out only at execution otherwise.
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    bound: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), bound)
        while rows := cursor.fetchmany(chunk):
            yield rows
    finally:
        cursor.close()


def planner_row_estimate(session: Session) -> float | None:
    """PostgreSQL's own estimate of the rows in the dossier and copy tables, the smaller of the two (negative: never
    analysed); None on other backends."""
    if session.connection().dialect.name != "postgresql":
        return None
    estimate = session.execute(
        text("SELECT min(reltuples) FROM pg_class WHERE oid IN (to_regclass(:dossiers), to_regclass(:copies))"),
        {"dossiers": DOSSIERS.name, "copies": COPIES.name},
    ).scalar()
    return None if estimate is None else float(estimate)


def analyze_store(session: Session) -> None:
    """Refresh the planner's statistics of the dossier and copy tables (PostgreSQL's ``ANALYZE``)."""
    quote = session.connection().dialect.identifier_preparer.quote
    session.execute(text(f"ANALYZE {quote(DOSSIERS.name)}, {quote(COPIES.name)}"))


def copies_without_dossier(session: Session, sources: Iterable[str]) -> dict[str, set[str]]:
    """Per source, the source ids of its copies that no stored dossier carries as its code (a dossier deleted, or
    never written): one anti-join for all the sources, instead of every dossier code of the store in memory.

    One for all, not one per source: each pass reads the whole dossier table's codes (PostgreSQL hashes all of
    them), and three at once on the 1M store cost a PostgreSQL reconciliation 0.7-2 s of its ~10 s."""
    c = COPIES.c
    names = list(dict.fromkeys(sources))
    found: dict[str, set[str]] = {name: set() for name in names}
    if not names:
        return found
    query = select(c.source, c.source_id).where(c.source.in_(names), ~exists().where(DOSSIERS.c.code == c.source_id))
    for rows in _column_rows(session, query):
        for source, sid in rows:
            found[source].add(sid)
    return found


CopyCheck = tuple[str, str | None, str, int | None, str | None, str | None]
"""What reconciliation needs of a stored copy, the row as the driver gives it: source id, ``raw_hash``, ``row_hash``,
``status``, ``unit_code``, ``received_month`` (a named tuple made per row cost half as much as reading the row)."""


INDEXED_SHARE = 0.25
"""On SQLite a source whose copies are less than this share of the copy table reads them through the (source,
source_id) index, in table order; a larger one reads the whole table (see :func:`copy_checks`)."""


def copy_checks(session: Session, source: str) -> dict[str, CopyCheck]:
    """source id -> :data:`CopyCheck` of every stored copy of a source. Units and months repeat across a million
    rows and the driver makes a new text of each: one object per distinct value keeps the map ~100 MB smaller at 1M.

    How the rows are found depends on the source's share of the table. SQLite uses the (source, source_id) index
    whenever it can, and following it reads a different table page for nearly every copy: for a third of a 1M
    table that costs 0.84 s against 0.65 s for reading the whole table in its own order (``source || ''``, which no
    index serves). So a large source reads the whole table; a small one (17 systems of the merger, not 3: about 6 %
    each) takes its rows' ids from the index, sorted, and reads only those pages, in order (0.45 s against 0.49 s
    at 23 %, and the gap grows as the share falls). PostgreSQL's planner weighs this itself from its statistics."""
    c = COPIES.c
    columns = (c.source_id, c.raw_hash, c.row_hash, c.status, c.unit_code, c.received_month)
    query = select(*columns).where(c.source == source)
    if session.connection().dialect.name == "sqlite":
        # max(id) stands for the table's size (one index probe; a count would read a whole index).
        size = session.scalar(select(func.max(c.id))) or 0
        mine = session.scalar(select(func.count()).select_from(COPIES).where(c.source == source)) or 0
        if mine >= INDEXED_SHARE * size:
            query = select(*columns).where(c.source + "" == source)
        else:
            query = select(*columns).where(c.id.in_(select(c.id).where(c.source == source)))
    shared: dict[str | None, str | None] = {}
    one = shared.setdefault
    found: dict[str, CopyCheck] = {}
    for rows in _column_rows(session, query):
        found.update((r[0], (r[0], r[1], r[2], r[3], one(r[4], r[4]), one(r[5], r[5]))) for r in rows)
    return found


SQLITE_BULK_CACHE_KIB = 131_072
"""Page cache of the SQLite connection a sync writes through (128 MiB). SQLite's default (2 MB) makes every insert
into a large index re-read its pages from the OS: 1M synthetic dossiers + copies took 93 s CPU / 135 s wall with it
and 72 s / 89 s with this one."""


@contextmanager
def bulk_page_cache(conn: Connection) -> Iterator[None]:
    """A page cache large enough for the store's indexes while a sync writes through ``conn`` (SQLite only), put
    back afterwards so a pooled connection does not keep it. Leaves no transaction open on ``conn``: a Session bound
    to it then commits for real."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
    conn.commit()
    try:
        yield
    finally:
        try:
            conn.rollback()
            conn.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")
            conn.commit()
        except SQLAlchemyError:
            # Best effort: a broken connection is discarded by the pool anyway, and the error that broke it is the
            # one to report.
            pass


WRITE_GATE_KEY = 0x686F706E68617431
"""PostgreSQL advisory lock key of the sync's write gate ("hopnhat1")."""


@contextmanager
def write_gate(session: Session) -> Iterator[None]:
    """Hold the store's sync write gate from here to the end of the block, which must end the transaction (commit
    or roll back) inside it.

    Sync processes (one per source, on one machine or several) stage batches in parallel and pass through this gate
    one at a time, so a batch's lookups (is this dossier code stored already, by which source?) and its writes are
    one atomic step: two sources never both insert a code the other is inserting.
    - PostgreSQL: a transaction-scoped advisory lock, released by the commit (which does not wait for the WAL
      flush: see below).
    - SQLite: an exclusive ``flock`` on ``<database>.sync-gate`` beside the file (waiters wake as soon as it is
      free, where SQLite's own busy handler polls with sleeps of up to 100 ms), then a write that makes the
      transaction a write transaction from its first statement, so its reads see the latest commit and nothing
      else writes until it ends; the lock file is released after the block.
    - Other backends: nothing (one sync process at a time there)."""
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_GATE_KEY})")
        # A batch's commit need not wait for the WAL flush: a server crash can lose only the last batches, and it
        # loses each with the cursor it moved (one transaction), so the next run reads them again. Nothing is
        # acknowledged to anyone on the strength of this commit.
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        yield
        return
    if dialect != "sqlite":
        yield
        return
    database = conn.engine.url.database or ""
    handle = None
    if database and database != ":memory:" and not database.startswith("file:") and fcntl is not None:
        handle = open(f"{database}.sync-gate", "a+b")  # noqa: SIM115 (held across the yield)
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        conn.exec_driver_sql("UPDATE sync_lock SET owner = owner WHERE 0")
        yield
    finally:
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def open_quarantine_ids(session: Session, source: str) -> set[str]:
    return set(
        session.scalars(
            select(QuarantinedRecord.source_id).where(
                QuarantinedRecord.source == source, QuarantinedRecord.state == "open"
            )
        )
    )


def resolve_quarantine(session: Session, source: str, ids: list[str], now: datetime) -> None:
    for chunk in _chunks(ids):
        session.execute(
            update(QuarantinedRecord)
            .where(
                QuarantinedRecord.source == source,
                QuarantinedRecord.source_id.in_(chunk),
                QuarantinedRecord.state == "open",
            )
            .values(state="resolved", resolved_at=now)
            .execution_options(synchronize_session=False)
        )


def quarantined(session: Session, source: str, ids: Iterable[str]) -> Sequence[QuarantinedRecord]:
    return session.scalars(
        select(QuarantinedRecord).where(QuarantinedRecord.source == source, QuarantinedRecord.source_id.in_(list(ids)))
    ).all()


def cursor(session: Session, source: str) -> SyncCursor | None:
    return session.get(SyncCursor, source)


def set_cursor(session: Session, source: str, value: str, version: int) -> None:
    row = session.get(SyncCursor, source)
    if row is None:
        session.add(SyncCursor(source=source, value=value, version=version))
    elif (row.value or "") < value or row.version != version:
        row.value, row.version = value, version


def try_lock(session: Session, source: str, owner: str, now: datetime, expires: datetime) -> bool:
    """Atomic on every backend: an insert that the primary key refuses, or an update guarded by the expiry."""
    try:
        with session.begin_nested():
            session.execute(insert(SyncLock).values(source=source, owner=owner, expires_at=expires))
        return True
    except IntegrityError:
        pass
    result = session.execute(
        update(SyncLock)
        .where(SyncLock.source == source, (SyncLock.expires_at < now) | (SyncLock.owner == owner))
        .values(owner=owner, expires_at=expires)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def extend_lock(session: Session, source: str, owner: str, expires: datetime) -> None:
    session.execute(
        update(SyncLock).where(SyncLock.source == source, SyncLock.owner == owner).values(expires_at=expires)
    )


def lock_owner(session: Session, source: str) -> str | None:
    return session.scalar(select(SyncLock.owner).where(SyncLock.source == source))


def steal_lock(session: Session, source: str, old_owner: str, owner: str, expires: datetime) -> bool:
    result = session.execute(
        update(SyncLock)
        .where(SyncLock.source == source, SyncLock.owner == old_owner)
        .values(owner=owner, expires_at=expires)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unlock(session: Session, source: str, owner: str) -> None:
    session.execute(delete(SyncLock).where(SyncLock.source == source, SyncLock.owner == owner))


def runs(session: Session, limit: int) -> Sequence[SyncRun]:
    return session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)).all()


def run_sources(session: Session, run_ids: Iterable[int]) -> Sequence[SyncRunSource]:
    return session.scalars(
        select(SyncRunSource).where(SyncRunSource.run_id.in_(list(run_ids))).order_by(SyncRunSource.id)
    ).all()


def last_done(session: Session, source: str) -> SyncRunSource | None:
    return session.scalars(
        select(SyncRunSource)
        .where(SyncRunSource.source == source, SyncRunSource.state == "done")
        .order_by(SyncRunSource.id.desc())
        .limit(1)
    ).first()


def quarantine_list(session: Session, source: str | None, state: str | None, limit: int) -> Sequence[QuarantinedRecord]:
    query = select(QuarantinedRecord).order_by(QuarantinedRecord.id)
    if source:
        query = query.where(QuarantinedRecord.source == source)
    if state:
        query = query.where(QuarantinedRecord.state == state)
    return session.scalars(query.limit(limit)).all()


def open_quarantine_count(session: Session, source: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(QuarantinedRecord)
            .where(QuarantinedRecord.source == source, QuarantinedRecord.state == "open")
        )
        or 0
    )


def store_summary(session: Session) -> dict[str, dict[str, int | str | None]]:
    out: dict[str, dict[str, int | str | None]] = {}

    def slot(source: str) -> dict[str, int | str | None]:
        return out.setdefault(
            source, {"copies": 0, "dossiers_won": 0, "quarantined_open": 0, "needs_review": 0, "cursor": None}
        )

    for source, n in session.execute(select(SourceCopy.source, func.count()).group_by(SourceCopy.source)):
        slot(source)["copies"] = n
    won = select(Dossier.source_name, func.count()).where(Dossier.source_name.is_not(None))
    for winner, n in session.execute(won.group_by(Dossier.source_name)):
        slot(str(winner))["dossiers_won"] = n
    review = won.where(Dossier.needs_review.is_(True)).group_by(Dossier.source_name)
    for flagged, n in session.execute(review):
        slot(str(flagged))["needs_review"] = n
    held = select(QuarantinedRecord.source, func.count()).where(QuarantinedRecord.state == "open")
    for source, n in session.execute(held.group_by(QuarantinedRecord.source)):
        slot(source)["quarantined_open"] = n
    for cur in session.scalars(select(SyncCursor)):
        slot(cur.source)["cursor"] = cur.value
    return out


def running_runs(session: Session) -> Sequence[SyncRun]:
    return session.scalars(select(SyncRun).where(SyncRun.state == "running")).all()


def identity(session: Session, source: str) -> SourceIdentity | None:
    return session.get(SourceIdentity, source)


def known_ids(session: Session, source: str, ids: list[str]) -> set[str]:
    """Those of ``ids`` the store holds a copy or a quarantine entry of, for this source."""
    found = set(copy_heads(session, source, ids))
    found.update(q.source_id for q in quarantined(session, source, ids))
    return found


def has_copies(session: Session, source: str) -> bool:
    return session.scalar(select(SourceCopy.id).where(SourceCopy.source == source).limit(1)) is not None
