"""The outbox relay: delivers outbox events to the portal, in order per dossier, at least once.

The real protocol has no idempotency key: a record whose answer was lost is sent again, and the portal is assumed
to deduplicate it (a dossier by ``MaHoSo``; a step by ``MaHoSo``, time and status). A create answered "đã tồn tại"
goes again as an update.

One batch: claim the due *head* events (the first undelivered event of each dossier) plus the pending events that
follow them, then deliver in rounds: round k sends the k-th event of every dossier still going, grouped into calls of
``batch_size`` records (dossier creates, dossier updates, steps), the calls in parallel over one pooled HTTP client.
A dossier's next event goes only in a later round, once the previous one was acknowledged: order per dossier holds,
and a dossier stops at its first failure (a refused event holds its later events until it is mended or skipped).
When the portal refuses a whole call, the call is bisected to find the bad record(s); the others go through.
Every outcome is then recorded in one bulk update. A failure sets the event's ``next_attempt_at`` by exponential
backoff; after ``max_attempts`` failures, or at once when the portal refuses the record, the event goes dead.

Inherited dossiers (origin ``migrated``) keep their original ``MaHoSo``. They are in the outbox only from the first
officer action here or their source's cut-over (the former system pushes them until then); before the first push of
one, the relay asks ``TraCuuHoSo`` whether the portal holds it, to send an update rather than a create.

Several relays may run at once:
- PostgreSQL: heads are locked ``FOR UPDATE SKIP LOCKED`` in a transaction that lasts the batch, so relays take
  disjoint dossiers; the followers of a locked head are not heads, so no other relay can take them.
- SQLite (one writer anyway): a lease row lets one relay deliver at a time; the others wait for it to expire,
  which is also how a crashed relay's work is taken over. Claims and results are short transactions around the
  HTTP calls, so settlement's writers are never blocked by a slow portal.
A relay that dies between delivery and recording re-sends those events later; the portal absorbs the repeats.
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
from hopnhat.portal.client import PortalClient, PortalError, PortalExists, PortalRejected, PortalUnavailable
from hopnhat.portal.mapping import SERVICE_DOSSIER, identity_fields, to_portal
from hopnhat.portal.service import Outcome, RetryPolicy, record_outcomes

log = logging.getLogger(__name__)

LEASE_NAME = "portal-relay"
NOT_OURS = (
    "an inherited dossier its former system still owns (no cut-over of its source, no action on it here): "
    "that system pushes it to the portal, not hopnhat"
)


@dataclass(frozen=True)
class RelayConfig:
    batch: int = 500
    """Events claimed per batch (heads and their followers)."""
    workers: int = 8
    """Calls to the portal in flight at once."""
    batch_size: int = 10
    """Records per ``DongBoHoSoMC`` / ``CapNhatTienDoHoSoMC`` call (OpenCPS sends 10); 1 is the one-record mode."""
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
class _Chain:
    """One dossier's claimed events and what the relay knows of the portal's copy."""

    code: str
    items: list[_Work]
    known: bool | None
    """The portal holds the dossier (True), does not (False), or must be asked first (None: an inherited dossier)."""
    identity: tuple[str | None, str | None, str | None] = (None, None, None)
    """(identity paper type, number, e-mail), read at delivery."""
    mend: dict[str, str] = field(default_factory=dict)
    ours: bool = True
    """False for an inherited dossier its former system still owns (it pushes it; hopnhat must not)."""
    pos: int = 0
    stopped: bool = False


@dataclass
class _Entry:
    chain: _Chain
    record: dict[str, Any]
    dossier: bool
    """A ``DongBoHoSoMC`` record (once acknowledged, the portal holds the dossier)."""
    advances: bool = True
    """False for a dossier record pushed ahead of a step because the portal lacks the dossier."""


_Result = tuple[_Entry, PortalError | None]


class _Unexpected(PortalUnavailable):
    """A bug or an odd answer: retried later, never allowed to kill the relay."""


class _NotSent(PortalUnavailable):
    """Not sent because the portal was failing meanwhile: the event is left as it was (no attempt counted)."""

    def __init__(self) -> None:
        super().__init__("not sent: the portal was failing")


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

    def _claim(self, session: Session) -> list[_Chain]:
        now = utcnow()
        heads = repo.claim_heads(session, now, self.config.batch, lock=self._locking)
        rest = repo.followers(session, heads, self.config.batch - len(heads))
        chains: dict[str, _Chain] = {}
        codes = [h.dossier_code for h in heads]
        pushed = repo.pushed_codes(session, codes)
        context = repo.dossier_context(session, codes)
        mends = repo.mends(session, codes)
        for e in sorted([*heads, *rest], key=lambda e: (e.dossier_code, e.seq)):
            chain = chains.get(e.dossier_code)
            if chain is None:
                origin, id_type, id_number, email, ours = context.get(
                    e.dossier_code, ("native", None, None, None, True)
                )
                known = True if e.dossier_code in pushed else (None if origin == "migrated" else False)
                chain = chains[e.dossier_code] = _Chain(
                    e.dossier_code, [], known, (id_type, id_number, email), mends.get(e.dossier_code, {}), ours=ours
                )
            chain.items.append(_Work(e.id, e.dossier_code, e.seq, e.kind, e.payload, e.idempotency_key, e.attempts))
        return list(chains.values())

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
    def _result(work: list[_Chain], outcomes: list[Outcome]) -> BatchResult:
        delivered = sum(1 for o in outcomes if o.error is None)
        claimed = sum(len(c.items) for c in work)
        return BatchResult(claimed=claimed, delivered=delivered, failed=len(outcomes) - delivered)

    def _deliver(self, chains: list[_Chain]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        portal_down = False

        failing = threading.Event()  # the portal is failing: calls not yet made are not made
        waiting: list[str] = []

        def fail(chain: _Chain, error: PortalError | InvalidInput) -> None:
            nonlocal portal_down
            chain.stopped = True
            if isinstance(error, _NotSent):
                return  # never tried: the event keeps its attempts and its place
            item = chain.items[chain.pos]
            retry = bool(getattr(error, "retry", False))
            portal_down = portal_down or retry
            if retry:
                waiting.append(error.detail)  # one line for the lot below, not one per dossier
            else:
                log.warning("portal event %s (%s #%s) refused: %s", item.id, item.dossier_code, item.seq, error.detail)
            outcomes.append(Outcome(item.id, item.attempts, error.detail, retry))

        for chain in chains:
            if not chain.ours:
                fail(chain, InvalidInput(NOT_OURS))
        # Inherited dossiers pushed for the first time: does the portal hold them already (TraCuuHoSo)?
        unknown = [c for c in chains if c.known is None and not c.stopped]
        for chain, answer in zip(unknown, self._pool.map(lambda c: self._ask(c, failing), unknown), strict=True):
            if isinstance(answer, PortalError):
                fail(chain, answer)
            else:
                chain.known = answer
        while not portal_down:
            going = [c for c in chains if not c.stopped and c.pos < len(c.items)]
            if not going:
                break
            groups: dict[tuple[str, bool], list[_Entry]] = {}
            for chain in going:
                try:
                    entry, service = self._entry(chain)
                except InvalidInput as exc:
                    fail(chain, exc)
                    continue
                updating = service == SERVICE_DOSSIER and bool(chain.known)
                groups.setdefault((service, updating), []).append(entry)
            size = max(1, self.config.batch_size)
            calls = [
                (service, updating, entries[i : i + size])
                for (service, updating), entries in groups.items()
                for i in range(0, len(entries), size)
            ]
            futures = [self._pool.submit(self._send, *call, failing) for call in calls]
            for future in futures:
                for entry, error in future.result():
                    chain = entry.chain
                    if error is not None:
                        fail(chain, error)
                        continue
                    if entry.dossier:
                        chain.known = True
                    if entry.advances:
                        item = chain.items[chain.pos]
                        outcomes.append(Outcome(item.id, item.attempts))
                        chain.pos += 1
        if waiting:
            log.warning("portal failing, %d event(s) will be retried: %s", len(waiting), waiting[0])
        return outcomes

    def _entry(self, chain: _Chain) -> tuple[_Entry, str]:
        """The record for the chain's next event (or, before a step the portal could not place, its dossier)."""
        item = chain.items[chain.pos]
        service, record = to_portal(item.kind, item.payload, chain.mend)
        if service == SERVICE_DOSSIER:
            return _Entry(chain, self._with_identity(chain, record), dossier=True), service
        if not chain.known:
            # The portal lacks the dossier (its first event was skipped, or an inherited dossier it never had):
            # push the dossier as the step's snapshot shows it, then the step in the next round.
            _, ahead = to_portal("dossier", {"dossier": item.payload["dossier"]}, chain.mend)
            return _Entry(chain, self._with_identity(chain, ahead), dossier=True, advances=False), SERVICE_DOSSIER
        return _Entry(chain, record, dossier=False), service

    @staticmethod
    def _with_identity(chain: _Chain, record: dict[str, Any]) -> dict[str, Any]:
        id_type, id_number, email = chain.identity
        record.update(identity_fields(id_type, id_number))
        record["Email"] = (email or "")[:254]
        return record

    def _ask(self, chain: _Chain, failing: threading.Event) -> bool | PortalError:
        if failing.is_set():
            return _NotSent()
        code = chain.mend.get("MaHoSo") or chain.code
        try:
            return self.client.lookup(code) is not None
        except PortalError as exc:
            if exc.retry:
                failing.set()
            return exc
        except Exception as exc:  # a bug or an odd answer must not kill the relay: retry later
            log.error("portal lookup of %s: unexpected %s", chain.code, type(exc).__name__)
            return _Unexpected(f"TraCuuHoSo: unexpected {type(exc).__name__}")

    def _send(self, service: str, updating: bool, entries: list[_Entry], failing: threading.Event) -> list[_Result]:
        """One call; when the portal refuses it whole, bisect to find the bad record(s) and send the rest."""
        if failing.is_set():
            not_sent = _NotSent()
            return [(e, not_sent) for e in entries]
        records = [e.record for e in entries]
        try:
            if service == SERVICE_DOSSIER:
                self.client.push_dossiers(records, updating=updating)
            else:
                self.client.push_steps(records)
            return [(e, None) for e in entries]
        except PortalUnavailable as exc:
            failing.set()
            return [(e, exc) for e in entries]
        except PortalExists as exc:
            if len(entries) == 1:
                return self._send(service, True, entries, failing)  # the portal has it: send it as an update
            refusal: PortalError = exc
        except PortalRejected as exc:
            if len(entries) == 1:
                return [(entries[0], exc)]
            refusal = exc
        except Exception as exc:  # a bug or an odd answer must not kill the relay: retry later
            log.error("portal %s call: unexpected %s", service, type(exc).__name__)
            failing.set()
            error = _Unexpected(f"unexpected {type(exc).__name__}")
            return [(e, error) for e in entries]
        log.info("portal refused a call of %d records (%s): bisecting", len(entries), refusal.detail[:200])
        half = len(entries) // 2
        return self._send(service, updating, entries[:half], failing) + self._send(
            service, updating, entries[half:], failing
        )

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
