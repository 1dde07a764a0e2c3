"""The shared rate limit: concurrent synchronisations send each count once, and a process's thread shares the
counts without any request waiting for the store."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.db import make_engine
from hopnhat.identity.limits import SharedLimiter
from hopnhat.identity.models import RateBucket


def _stored(engine: object, key: str) -> int:
    with Session(engine) as s:  # type: ignore[call-overload]
        return int(sum(s.scalars(select(RateBucket.count).where(RateBucket.key == key))))


def test_concurrent_synchronisations_send_each_count_once(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        limiter = SharedLimiter(engine, sync_every=3600)
        now = time.time()
        for _ in range(10):
            assert limiter.allow("k:race", 1000, now=now, background=False)
        start = threading.Barrier(20)

        def sync() -> None:
            start.wait()
            limiter.sync(now=now)

        threads = [threading.Thread(target=sync) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        limiter.sync(now=now)  # whatever a refused concurrent call left pending
        assert _stored(engine, "k:race") == 10, "a count was sent twice (or lost)"
        # A second process reads the true total back: 10 spent of 12, so 2 more and no more.
        other = SharedLimiter(engine, sync_every=3600)
        other.allow("k:race", 12, now=now, background=False)
        other.sync(now=now)
        assert [other.allow("k:race", 12, now=now, background=False) for _ in range(3)] == [True, False, False]
    finally:
        engine.dispose()


def test_the_process_thread_shares_the_counts_by_itself(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        limiter = SharedLimiter(engine, sync_every=0.05)
        for _ in range(7):
            assert limiter.allow("k:thread", 1000)
        deadline = time.monotonic() + 10
        while _stored(engine, "k:thread") < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stored(engine, "k:thread") == 7
    finally:
        engine.dispose()
