"""The notice relays: one per channel (``email``, ``sms``, ``zalo``), each claiming only its own destination in the
outbox, so an SMTP outage holds up neither the SMS nor the portal (whose relay claims ``portal`` alone).

One batch: claim the due head notices of the channel (the first undelivered notice of each dossier there, the
portal relay's own claim, per destination), read consent and contacts *now*, render, send them over one reused
connection, record every outcome in one bulk update. At least once: a relay killed between sending and recording
sends those notices again, with the same message id (``Message-ID``, the gateway's ``id``), so the receiving side
can drop the repeat. Failures back off exponentially (``HOPNHAT_NOTICE_BACKOFF_*``) and go dead after
``HOPNHAT_NOTICE_MAX_ATTEMPTS``; a dead notice holds its dossier's later notices on that channel until it is
resent (the order a citizen reads them in matters: a result before its receipt would confuse).

Concurrency as the portal relay: PostgreSQL relays lock their heads ``FOR UPDATE SKIP LOCKED`` for the batch;
on SQLite a lease per channel (``notice-email``...) lets one relay at a time deliver, and a killed relay's lease
runs out after ``lease_seconds``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.config import Settings
from hopnhat.db import session_scope, utcnow
from hopnhat.identity.service import secret_key
from hopnhat.notices import repository as repo
from hopnhat.notices import service
from hopnhat.notices.senders import (
    NOT_SENT,
    GatewayConfig,
    GatewaySender,
    Sender,
    SmtpConfig,
    SmtpSender,
    mask,
    parse_templates,
)
from hopnhat.portal import repository as outbox
from hopnhat.portal.service import Outcome, RetryPolicy, record_outcomes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeRelayConfig:
    batch: int = 200
    policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=8, base_seconds=30.0, cap_seconds=3600.0)
    )
    lease_seconds: float = 30.0
    idle_seconds: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float) -> NoticeRelayConfig:
        policy = RetryPolicy(
            max_attempts=settings.notice_max_attempts,
            base_seconds=settings.notice_backoff_seconds,
            cap_seconds=settings.notice_backoff_cap_seconds,
        )
        config = cls(policy=policy)
        lease = overrides.get("lease_seconds")
        idle = overrides.get("idle_seconds")
        return cls(
            batch=config.batch,
            policy=policy,
            lease_seconds=float(lease) if lease is not None else config.lease_seconds,
            idle_seconds=float(idle) if idle is not None else config.idle_seconds,
        )


@dataclass
class NoticeBatch:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    leased: bool = True


def make_sender(channel: str, settings: Settings) -> Sender:
    """The channel's sender as the settings describe it; a clear error when the channel is not configured."""
    from hopnhat.errors import InvalidInput

    if channel == "email":
        if not settings.smtp_host:
            raise InvalidInput("e-mail notices need HOPNHAT_SMTP_HOST (the SMTP server)")
        return SmtpSender(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                user=settings.smtp_user,
                password=settings.smtp_password,
                sender=settings.smtp_sender,
                timeout=settings.smtp_timeout_seconds,
                connections=settings.smtp_connections,
            )
        )
    url, account, key, codes = {
        "sms": (settings.sms_url, settings.sms_account, settings.sms_key, settings.sms_templates),
        "zalo": (settings.zalo_url, settings.zalo_account, settings.zalo_key, settings.zalo_templates),
    }.get(channel, (None, None, None, ""))
    if not url:
        raise InvalidInput(f"{channel} notices need HOPNHAT_{channel.upper()}_URL (the provider's send API)")
    return GatewaySender(
        GatewayConfig(
            url=url,
            account=account,
            key=key,
            templates=parse_templates(codes),
            timeout=settings.gateway_timeout_seconds,
        )
    )


class NoticeRelay:
    """Delivers the notices of one ``channel`` from ``engine`` through ``sender``; call :meth:`close` when done."""

    def __init__(
        self,
        engine: Engine,
        channel: str,
        sender: Sender,
        settings: Settings,
        config: NoticeRelayConfig | None = None,
        relay_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.sender = sender
        self.settings = settings
        self.config = config or NoticeRelayConfig.from_settings(settings)
        self.relay_id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = f"notice-{channel}"
        self._locking = engine.dialect.name == "postgresql"
        self._secret = secret_key(engine, settings)

    def close(self, release: bool = True) -> None:
        self.sender.close()
        if release and not self._locking:
            with session_scope(self.engine) as session:
                outbox.release_lease(session, self.lease, self.relay_id)

    def __enter__(self) -> NoticeRelay:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _claim(self, session: Session) -> list[service.Prepared]:
        rows = outbox.claim_heads(session, utcnow(), self.config.batch, lock=self._locking, destination=self.channel)
        return service.prepare(session, rows, self.channel, self.settings, self._secret)

    def run_once(self) -> NoticeBatch:
        """Claim, send and record one batch."""
        if self._locking:
            with session_scope(self.engine) as session:
                work = self._claim(session)
                return self._record(session, work, self._send(work))
        with session_scope(self.engine) as session:
            now = utcnow()
            until = now + timedelta(seconds=self.config.lease_seconds)
            if not outbox.acquire_lease(session, self.lease, self.relay_id, now, until):
                return NoticeBatch(leased=False)
        with Session(self.engine) as session:
            work = self._claim(session)
            session.rollback()  # a read: end it before the slow part
        results = self._send(work)
        with session_scope(self.engine) as session:
            return self._record(session, work, results)

    def _send(self, work: list[service.Prepared]) -> list[Outcome]:
        ready = [p for p in work if p.message is not None]
        if not ready:
            return []
        results = self.sender.send([p.message for p in ready if p.message is not None])
        outcomes: list[Outcome] = []
        failing = None
        for prepared, error in zip(ready, results, strict=True):
            if error is None:
                outcomes.append(Outcome(prepared.event_id, prepared.attempts))
            elif error is not NOT_SENT:
                outcomes.append(Outcome(prepared.event_id, prepared.attempts, error.detail, error.retry))
                if error.retry:
                    failing = error.detail
                else:
                    to = prepared.message.to if prepared.message else ""
                    log.warning(
                        "%s notice %s to %s refused: %s", self.channel, prepared.event_id, mask(to), error.detail
                    )
        if failing is not None:
            log.warning("%s provider failing, notices will be retried: %s", self.channel, failing)
        return outcomes

    def _record(self, session: Session, work: list[service.Prepared], outcomes: list[Outcome]) -> NoticeBatch:
        now = utcnow()
        broken = [Outcome(p.event_id, p.attempts, p.error, retry=False) for p in work if p.error is not None]
        record_outcomes(session, outcomes + broken, self.config.policy, now)
        skipped = [p for p in work if p.skip is not None]
        for reason in {p.skip for p in skipped if p.skip}:
            repo.skip(session, [p.event_id for p in skipped if p.skip == reason], reason, now)
        delivered = sum(1 for o in outcomes if o.error is None)
        return NoticeBatch(
            claimed=len(work),
            delivered=delivered,
            failed=len(outcomes) - delivered + len(broken),
            skipped=len(skipped),
        )

    def drain(self, timeout: float = 60.0) -> int:
        """Run batches until nothing is due (notices backing off are left for later); returns notices delivered."""
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

    def run(self, stop: threading.Event | None = None, on_batch: Callable[[NoticeBatch], None] | None = None) -> None:
        """Deliver until ``stop`` is set, pausing when nothing is due or the provider is failing."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                result = self.run_once()
            except Exception as exc:  # the store blinked: keep the relay alive, try again after a pause
                log.error("%s notice relay: %s", self.channel, type(exc).__name__)
                stop.wait(self.config.idle_seconds)
                continue
            if on_batch is not None:
                on_batch(result)
            if result.claimed == 0 or result.failed:
                stop.wait(self.config.idle_seconds)


__all__ = ["NoticeBatch", "NoticeRelay", "NoticeRelayConfig", "make_sender"]
