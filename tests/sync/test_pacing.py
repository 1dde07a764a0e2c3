"""The sync's speed-ups that must not change what it computes: the collector pacing is put back, and a cached date
or stored time is the one computed afresh."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.sync import jobs
from hopnhat.sync import normalise as normalise_stage
from hopnhat.sync.engine import _paced_collector, normalise
from hopnhat.sync.repository import _sqlite_time
from tests.sync.test_normalise import _context, _record


@pytest.fixture
def thresholds() -> Iterator[None]:
    """The collector's thresholds at CPython's defaults for the test, and the process's own put back after it."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def test_collector_thresholds_come_back_after_overlapping_syncs(thresholds: None) -> None:
    first, second = _paced_collector(), _paced_collector()
    first.__enter__()
    assert gc.get_threshold()[0] == jobs._GC_THRESHOLD0
    second.__enter__()
    first.__exit__(None, None, None)
    # The other sync still runs: still paced.
    assert gc.get_threshold()[0] == jobs._GC_THRESHOLD0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_collector_left_alone_when_disabled_by_threshold_or_changed_meanwhile(thresholds: None) -> None:
    gc.set_threshold(0, 10, 10)
    with _paced_collector():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)
    gc.set_threshold(700, 10, 10)
    with _paced_collector():
        gc.set_threshold(5000, 10, 10)  # someone else's choice while the sync ran: kept
    assert gc.get_threshold() == (5000, 10, 10)


def test_collector_pacing_survives_threads(thresholds: None) -> None:
    barrier = threading.Barrier(4)

    def work() -> None:
        with _paced_collector():
            barrier.wait()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.get_threshold() == (700, 10, 10)


def test_a_cached_date_gives_what_a_fresh_parse_gives(rdb: Session) -> None:
    warm = _context(rdb)
    for fields in ({"due_at": "2024-01-03 16:30:00"}, {"due_at": "31/02/2024"}, {"received_at": "junk"}):
        first = normalise(warm, _record(**fields))
        again = normalise(warm, _record(**fields))  # from the cache now
        fresh = normalise(_context(rdb), _record(**fields))
        assert first.reasons == again.reasons == fresh.reasons
        assert first.values == again.values == fresh.values and first.hash == again.hash == fresh.hash
    assert "2024-01-03 16:30:00" in warm.when_cache
    assert normalise(warm, _record(due_at="31/02/2024")).reasons == ["invalid date in due_at: '31/02/2024'"]


def test_the_cache_stays_bounded(rdb: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalise_stage, "_WHEN_CACHE_MAX", 3)
    ctx = _context(rdb)
    for day in range(1, 10):
        prepared = normalise(ctx, _record(due_at=f"2024-01-{day + 10:02d} 16:30:00"))
        assert prepared.values is not None and prepared.values["due_at"] == datetime(
            2024, 1, day + 10, 16, 30, tzinfo=VN_TZ
        )
        assert len(ctx.when_cache) <= 3


def test_a_stored_time_depends_on_its_instant_only() -> None:
    when = datetime(2024, 1, 3, 16, 30, tzinfo=VN_TZ)
    # The same instant in two zones is equal and writes the same UTC text: a value-keyed cache of it is exact.
    assert when == when.astimezone(UTC)
    assert _sqlite_time(when) == _sqlite_time(when.astimezone(UTC)) == "2024-01-03 09:30:00.000000"
