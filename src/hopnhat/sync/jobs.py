"""Stage 3 of the sync, jobs: the only part that commits. Each batch is loaded, its quarantined records kept and the
source's cursor moved in ONE transaction, so a process killed at any moment resumes from the last committed batch
(the look-back window re-reads the edge) and ends with the same store as an uninterrupted run."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.sync import repository as repo
from hopnhat.sync import steward_repo
from hopnhat.sync.ahead import read_ahead
from hopnhat.sync.connectors.base import RawRecord
from hopnhat.sync.load import (
    REFUSED,
    Counts,
    Encoders,
    apply_batch,
    apply_or_quarantine,
    one_by_one,
    staged_batches,
    stamp_text,
)
from hopnhat.sync.normalise import SourceContext

CURSOR_VERSION = 2
"""Stored with every source's cursor; a cursor of another version is ignored, so the next run reads the source whole.
Bump it with :data:`RAW_CHECK_VERSION` whenever :func:`row_hash` or the digests change: only a record the sync reads
again gets its copy rewritten with the new hashes, and a copy left with the old ones would be reported ``changed``
by every reconciliation (2: XXH3-128 instead of SHA-256)."""

_GC_LOCK = threading.Lock()
_gc_users = 0
_gc_before: tuple[int, int, int] = (0, 0, 0)
_GC_THRESHOLD0 = 100_000
"""Allocations between young-generation collections while a sync runs (CPython's default is 700). A sync allocates
several containers per record (payload, fields, values, rows) that all live until their batch commits, so at the
default the collector keeps traversing (and promoting, and traversing again in the older generations) live batch
objects that are never garbage: some 15 % of a sync's CPU on the 200k benchmark. Cyclic garbage is still
collected, in fewer and larger passes."""


@contextmanager
def _paced_collector() -> Iterator[None]:
    """Raise the collector's first threshold for the duration (process-wide, so counted: overlapping syncs in one
    process put back the original thresholds only when the last one ends)."""
    global _gc_users, _gc_before
    with _GC_LOCK:
        if _gc_users == 0:
            _gc_before = gc.get_threshold()
            if _gc_before[0] and _gc_before[0] < _GC_THRESHOLD0:
                gc.set_threshold(_GC_THRESHOLD0, *_gc_before[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_users -= 1
            if _gc_users == 0 and gc.get_threshold()[0] == _GC_THRESHOLD0 != _gc_before[0]:
                gc.set_threshold(*_gc_before)


def since_from_cursor(value: str | None, lookback_minutes: float) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value) - timedelta(minutes=lookback_minutes)


def sync_source(
    engine: Engine,
    ctx: SourceContext,
    records_for: Callable[[datetime | None], Iterator[RawRecord]],
    *,
    batch_size: int,
    lookback_minutes: float,
    dry_run: bool,
    full: bool = False,
    on_batch: Callable[[int], None] | None = None,
    renew_lock: Callable[[Session], None] | None = None,
) -> Counts:
    counts = Counts()
    with Session(engine) as session:
        cursor = repo.cursor(session, ctx.name)
        value = cursor.value if cursor and cursor.version == CURSOR_VERSION and not full else None
        since = since_from_cursor(value, lookback_minutes)
        # The stewards' work on this source, read once: applied to the records it was made for while they last.
        ctx.corrections = steward_repo.active_corrections(session, ctx.name)
        ctx.unit_choices = steward_repo.active_choices(session, ctx.name)
    # One connection for the whole source, so the page cache widened for the bulk load (and the pages it holds)
    # stays with the batches instead of going back to the pool at every commit.
    encoders = Encoders(engine.dialect.name)
    with _paced_collector(), engine.connect() as conn, repo.bulk_page_cache(conn), Session(bind=conn) as session:
        for staged in read_ahead(lambda: staged_batches(records_for(since), ctx, batch_size, encoders)):
            # Several processes (one per source) share the store: the gate makes each batch's lookups and writes
            # one atomic step, so two sources never both insert a dossier code the other is inserting.
            with repo.write_gate(session):
                before = Counts(**counts.as_dict())
                try:
                    apply_batch(session, ctx, staged, counts)
                except REFUSED:
                    # The store refused a row of the batch (a value no check foresaw): the batch again, one record
                    # at a time, each refused record quarantined with the store's reason; the source goes on.
                    session.rollback()
                    counts = before
                    ctx.open_quarantine = None
                    for part in one_by_one(staged):
                        apply_or_quarantine(session, ctx, part, counts)
                if staged.newest is not None:
                    repo.set_cursor(session, ctx.name, stamp_text(staged.newest) or "", CURSOR_VERSION)
                if dry_run:
                    session.rollback()
                # The source's lock is extended in the batch's own write: a transaction of its own would be one more
                # writer for SQLite to serialise, outside the gate.
                if renew_lock is not None:
                    renew_lock(session)
                session.commit()
            if on_batch is not None:
                on_batch(staged.size)
    return counts
