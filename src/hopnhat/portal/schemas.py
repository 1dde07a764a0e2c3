"""What the portal part shows: relay status and dead letters (no payloads: they carry the applicant's name)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class RelayInfo(BaseModel):
    relay_id: str
    started_at: datetime
    heartbeat_at: datetime
    delivered: int
    failed: int


class PortalStatus(BaseModel):
    """Backlog and health of the delivery to the portal."""

    pending: int
    """Events not yet delivered and not dead (the backlog)."""
    due: int
    """Pending events whose next attempt time has come."""
    retrying: int
    """Pending events that failed at least once."""
    dead: int
    delivered: int
    oldest_pending_at: datetime | None
    lag_seconds: float
    """Age of the oldest pending event (0 when nothing is pending)."""
    blocked_dossiers: int
    """Dossiers whose delivery waits on a dead event (requeue it to go on)."""
    last_error: str | None
    relays: list[RelayInfo]


class DeadLetter(BaseModel):
    id: int
    dossier_code: str
    seq: int
    kind: str
    attempts: int
    last_error: str | None
    created_at: datetime


class RequeueResult(BaseModel):
    requeued: int


__all__ = ["DeadLetter", "PortalStatus", "RelayInfo", "RequeueResult"]
