"""Rate limits shared by every worker, and the sign-in throttle.

Both count in :class:`~hopnhat.identity.models.RateBucket` rows of the store, so ``hopnhat serve --workers N`` and
several hosts on one PostgreSQL count one allowance, not N. A request-rate limit does not write the store on every
request (it would cost a public lookup more than the lookup itself): each process counts locally and a thread of it
adds its counts to the store's once per ``sync_every`` seconds, reading back the total of every process. Between two
synchronisations a process may let through what the others spent in the meantime, so a client spread over N workers
gets at most ``limit + (N - 1) * min(limit, its rate * sync_every)`` in a window (up to N times a small limit, spent
in the first second); with one worker the limit is exact.
Windows are fixed minutes: a client may spend a window's allowance at its end and the next one's at the start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from hopnhat.identity.models import RateBucket

log = logging.getLogger(__name__)

WINDOW_S = 60


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def add_to_bucket(session: Session, key: str, window: int, amount: int, now: datetime) -> int:
    """Add ``amount`` to a bucket (created at zero) and return its new total, in one statement."""
    insert = _insert(session.get_bind().dialect.name)
    stmt = insert(RateBucket).values(key=key[:200], window=window, count=amount, last_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "window"],
        set_={"count": RateBucket.count + stmt.excluded.count, "last_at": stmt.excluded.last_at},
    ).returning(RateBucket.count)
    total = session.execute(stmt).scalar_one()
    return int(total)


@dataclass
class _Local:
    window: int
    base: int = 0
    """The store's total at the last synchronisation (every process's counts, ours included)."""
    pending: int = 0
    """Counted here and not yet sent."""
    in_flight: int = 0
    """Sent by the synchronisation under way, not yet in ``base``."""


class SharedLimiter:
    """Requests per key per minute across every process on the store (see the module's docstring).

    A request only counts in memory; a daemon thread of this process adds the counts to the store every
    ``sync_every`` seconds while there are any (it ends after a minute with none and starts again with the next
    count), so no request ever waits for the store's write."""

    def __init__(self, engine: Engine, sync_every: float = 1.0) -> None:
        self._engine = engine
        self._sync_every = sync_every
        self._state: dict[str, _Local] = {}
        self._touched: set[str] = set()
        self._lock = threading.Lock()
        self._syncing = threading.Lock()
        """One synchronisation at a time: two would send the same pending counts twice."""
        self._last_cleanup = 0.0
        self._thread: threading.Thread | None = None

    def allow(self, key: str, limit: int, now: float | None = None, *, background: bool = True) -> bool:
        """Count one request of ``key`` unless it has spent ``limit`` this minute. ``background=False`` (tests,
        benchmarks) leaves the synchronisation to explicit :meth:`sync` calls."""
        t = time.time() if now is None else now
        window = int(t // WINDOW_S) * WINDOW_S
        with self._lock:
            state = self._state.get(key)
            if state is None or state.window != window:
                state = _Local(window)
                self._state[key] = state
            self._touched.add(key)
            if background and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="hopnhat-rate-limits", daemon=True)
                self._thread.start()
            if state.base + state.in_flight + state.pending >= limit:
                return False
            state.pending += 1
            return True

    def _run(self) -> None:
        idle = 0.0
        while idle < 60:
            time.sleep(self._sync_every)
            with self._lock:
                busy = bool(self._touched)
            if busy:
                idle = 0.0
                self.sync()
            else:
                idle += self._sync_every

    def sync(self, now: float | None = None) -> None:
        """Add this process's counts to the store's and read back the totals; a store that cannot be reached
        leaves the counts pending (the limit then holds per process) and is tried again later."""
        if not self._syncing.acquire(blocking=False):
            return  # one is under way; it or the next one sends these counts
        try:
            self._sync(time.time() if now is None else now)
        finally:
            self._syncing.release()

    def _sync(self, t: float) -> None:
        window = int(t // WINDOW_S) * WINDOW_S
        with self._lock:
            work: list[tuple[str, int, int]] = []
            for key in self._touched:
                state = self._state[key]
                if state.window == window:
                    work.append((key, window, state.pending))
                    state.in_flight += state.pending
                    state.pending = 0
            self._touched = set()
            for key in list(self._state):
                if self._state[key].window != window:
                    del self._state[key]  # a past window: nothing left to limit
        if not work:
            return
        stamp = datetime.fromtimestamp(t, UTC)
        try:
            with Session(self._engine) as session:
                totals = {k: add_to_bucket(session, k, w, n, stamp) for k, w, n in work}
                if t - self._last_cleanup > 300:
                    self._last_cleanup = t
                    session.execute(delete(RateBucket).where(RateBucket.window < int(t) - 3600))
                session.commit()
        except Exception as exc:  # any store failure leaves the local limit working
            log.warning("rate limit not shared this time: %s", type(exc).__name__)
            with self._lock:
                for key, w, sent in work:
                    back = self._state.get(key)
                    if back is not None and back.window == w:
                        back.in_flight -= sent
                        back.pending += sent
                        self._touched.add(key)
            return
        with self._lock:
            for key, w, sent in work:
                done = self._state.get(key)
                if done is not None and done.window == w:
                    done.in_flight -= sent
                    done.base = totals[key]


# --- sign-in throttle -----------------------------------------------------------------------------------------

SIGNIN_WINDOW_S = 900


@dataclass(frozen=True)
class _Policy:
    free: int
    """Failures in a window before any delay."""
    cap_s: float
    """The longest delay: how long an attacker's guessing can keep the rightful officer waiting at most."""


_POLICIES: dict[str, _Policy] = {
    # This browser or terminal guessing this account: slowed hard.
    "pair": _Policy(free=5, cap_s=300),
    # This account from everywhere: an attacker elsewhere can only make the officer at the counter wait 30 s.
    "account": _Policy(free=10, cap_s=30),
    # This address, whatever the account (a whole center may sit behind one address, hence the large allowance).
    "address": _Policy(free=100, cap_s=300),
}


def _keys(username: str, address: str) -> dict[str, str]:
    name = username.strip().lower()[:64]
    return {
        "pair": f"signin:pair:{name}|{address}",
        "account": f"signin:acct:{name}",
        "address": f"signin:addr:{address}",
    }


def signin_wait(session: Session, username: str, address: str, now: datetime) -> float:
    """Seconds before this sign-in may be tried (0: go ahead). The delay doubles with each failure past a policy's
    free ones, up to its cap; it counts from the last failure, so waiting is always enough."""
    window = int(now.timestamp() // SIGNIN_WINDOW_S) * SIGNIN_WINDOW_S
    keys = _keys(username, address)
    rows = session.execute(
        select(RateBucket.key, RateBucket.count, RateBucket.last_at).where(
            RateBucket.key.in_(list(keys.values())), RateBucket.window == window
        )
    ).all()
    by_key: dict[str, tuple[int, datetime | None]] = {r[0]: (int(r[1]), r[2]) for r in rows}
    wait = 0.0
    for kind, key in keys.items():
        count, last = by_key.get(key, (0, None))
        policy = _POLICIES[kind]
        if count < policy.free or last is None:
            continue
        delay = min(policy.cap_s, 2.0 ** (count - policy.free))
        wait = max(wait, (last + timedelta(seconds=delay) - now).total_seconds())
    return max(0.0, wait)


def record_signin_failure(session: Session, username: str, address: str, now: datetime) -> None:
    window = int(now.timestamp() // SIGNIN_WINDOW_S) * SIGNIN_WINDOW_S
    for key in _keys(username, address).values():
        add_to_bucket(session, key, window, 1, now)


def clear_signin_failures(session: Session, username: str, address: str) -> None:
    """A successful sign-in forgives this browser's failures on this account (not the account's or address's)."""
    session.execute(delete(RateBucket).where(RateBucket.key == _keys(username, address)["pair"]))


__all__ = [
    "SharedLimiter",
    "add_to_bucket",
    "clear_signin_failures",
    "record_signin_failure",
    "signin_wait",
]
