"""The outbox relay: delivers outbox events to the portal, in order per dossier, at least once; the portal makes it
exactly once through the idempotency key.

One batch: claim the due *head* events (the first undelivered event of each dossier) plus the pending events that
follow them, send each dossier's chain in sequence (different dossiers in parallel over one pooled HTTP client),
stop a chain at its first failure, then record every outcome in one bulk update. A failure sets the event's
``next_attempt_at`` by exponential backoff; after ``max_attempts`` failures, or at once when the portal refuses the
record, the event goes dead and, being undelivered, blocks the later events of its dossier until it is requeued.

Several relays may run at once:
- PostgreSQL: heads are locked ``FOR UPDATE SKIP LOCKED`` in a transaction that lasts the batch, so relays take
  disjoint dossiers; the followers of a locked head are not heads, so no other relay can take them.
- SQLite (one writer anyway): a lease row lets one relay deliver at a time; the others wait for it to expire,
  which is also how a crashed relay's work is taken over. Claims and results are short transactions around the
  HTTP calls, so settlement's writers are never blocked by a slow portal.
A relay that dies between delivery and recording re-sends those events later; the portal acknowledges the repeats.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.db import session_scope, utcnow
from hopnhat.errors import InvalidInput
from hopnhat.portal import repository as repo
from hopnhat.portal.client import PortalClient, PortalError
from hopnhat.portal.mapping import to_portal
from hopnhat.portal.service import Outcome, RetryPolicy, record_outcomes

log = logging.getLogger(__name__)

LEASE_NAME = "portal-relay"


@dataclass(frozen=True)
class RelayConfig:
    batch: int = 500
    """Events claimed per batch (heads and their followers)."""
    workers: int = 8
    """Dossier chains sent at once."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 30.0
    """SQLite only: how long a silent relay keeps the right to deliver."""
    idle_seconds: float = 0.5
    """Pause of ``run`` when nothing is due."""


@dataclass(frozen=True)
class _Work:
    id: int
    dossier_code: str
    seq: int
    kind: str
    payload: dict[str, Any]
    key: str
    attempts: int


@dataclass
class BatchResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    leased: bool = True
    """False when another relay holds the SQLite lease (nothing was tried)."""


class Relay:
    """Delivers the outbox of ``engine`` through ``client``; call :meth:`close` when done."""

    def __init__(
        self, engine: Engine, client: PortalClient, config: RelayConfig | None = None, relay_id: str | None = None
    ) -> None:
        self.engine = engine
        self.client = client
        self.config = config or RelayConfig()
        self.relay_id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._pool = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="portal-relay")
        self._locking = engine.dialect.name == "postgresql"

    def close(self, release: bool = True) -> None:
        """Stop the workers; ``release`` gives up the SQLite lease so another relay may start at once."""
        self._pool.shutdown(wait=True)
        if release and not self._locking:
            with session_scope(self.engine) as session:
                repo.release_lease(session, LEASE_NAME, self.relay_id)

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- one batch --------------------------------------------------------------------------------------------

    def _claim(self, session: Session) -> list[_Work]:
        now = utcnow()
        heads = repo.claim_heads(session, now, self.config.batch, lock=self._locking)
        rest = repo.followers(session, heads, self.config.batch - len(heads))
        return [
            _Work(e.id, e.dossier_code, e.seq, e.kind, e.payload, e.idempotency_key, e.attempts)
            for e in sorted([*heads, *rest], key=lambda e: (e.dossier_code, e.seq))
        ]

    def run_once(self) -> BatchResult:
        """Claim, deliver and record one batch."""
        if self._locking:
            with session_scope(self.engine) as session:
                work = self._claim(session)
                outcomes = self._deliver(work)
                self._record(session, outcomes)
                return self._result(work, outcomes)
        with session_scope(self.engine) as session:
            now = utcnow()
            until = now + timedelta(seconds=self.config.lease_seconds)
            if not repo.acquire_lease(session, LEASE_NAME, self.relay_id, now, until):
                return BatchResult(leased=False)
        with Session(self.engine) as session:
            work = self._claim(session)
            session.rollback()  # a read: end it before the slow part
        outcomes = self._deliver(work)
        with session_scope(self.engine) as session:
            self._record(session, outcomes)
        return self._result(work, outcomes)

    def _record(self, session: Session, outcomes: list[Outcome]) -> None:
        record_outcomes(session, outcomes, self.config.policy)
        delivered = sum(1 for o in outcomes if o.error is None)
        repo.beat(session, self.relay_id, utcnow(), delivered, len(outcomes) - delivered)

    @staticmethod
    def _result(work: list[_Work], outcomes: list[Outcome]) -> BatchResult:
        delivered = sum(1 for o in outcomes if o.error is None)
        return BatchResult(claimed=len(work), delivered=delivered, failed=len(outcomes) - delivered)

    def _deliver(self, work: list[_Work]) -> list[Outcome]:
        chains: dict[str, list[_Work]] = {}
        for item in work:
            chains.setdefault(item.dossier_code, []).append(item)
        portal_down = threading.Event()
        futures = [self._pool.submit(self._send_chain, chain, portal_down) for chain in chains.values()]
        outcomes: list[Outcome] = []
        for future in futures:
            outcomes.extend(future.result())
        return outcomes

    def _send_chain(self, chain: list[_Work], portal_down: threading.Event) -> list[Outcome]:
        """Send one dossier's events in order; stop at the first failure (the rest wait for it)."""
        outcomes: list[Outcome] = []
        for item in chain:
            if portal_down.is_set():
                break  # the portal is failing: leave untried events untouched instead of burning their attempts
            try:
                service, record = to_portal(item.kind, item.payload)
                self.client.call(service, record, idempotency_key=item.key)
            except PortalError as exc:
                if exc.retry:
                    portal_down.set()
                log.warning("portal event %s (%s #%s) failed: %s", item.id, item.dossier_code, item.seq, exc.detail)
                outcomes.append(Outcome(item.id, item.attempts, exc.detail, exc.retry))
                break
            except InvalidInput as exc:
                log.warning(
                    "portal event %s (%s #%s) cannot be mapped: %s", item.id, item.dossier_code, item.seq, exc.detail
                )
                outcomes.append(Outcome(item.id, item.attempts, exc.detail, retry=False))
                break
            except Exception as exc:  # a bug or an odd answer must not kill the relay: retry later
                portal_down.set()
                log.error(
                    "portal event %s (%s #%s): unexpected %s", item.id, item.dossier_code, item.seq, type(exc).__name__
                )
                outcomes.append(Outcome(item.id, item.attempts, f"unexpected {type(exc).__name__}"))
                break
            outcomes.append(Outcome(item.id, item.attempts))
        return outcomes

    # -- loops ------------------------------------------------------------------------------------------------

    def drain(self, timeout: float = 60.0) -> int:
        """Run batches until nothing is due (events backing off are left for later); returns events delivered."""
        delivered = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.run_once()
            delivered += result.delivered
            if result.claimed == 0 and result.leased:
                break
            if not result.leased:
                time.sleep(self.config.idle_seconds)
        return delivered

    def run(self, stop: threading.Event | None = None) -> None:
        """Deliver until ``stop`` is set (or forever), pausing when nothing is due or the portal is failing."""
        stop = stop or threading.Event()
        while not stop.is_set():
            result = self.run_once()
            if result.claimed == 0 or result.failed:
                stop.wait(self.config.idle_seconds)


__all__ = ["BatchResult", "Relay", "RelayConfig"]
