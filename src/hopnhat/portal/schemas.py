"""What the portal part shows: relay status and dead letters (no payloads: they carry the applicant's name)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field


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
    skipped: int = 0
    """Dead events an administrator chose not to send (audited)."""
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
    """Why it is dead: the portal's refusal or why the record cannot be sent."""
    created_at: datetime
    mend: dict[str, str] | None = None
    """Corrections already made to this dossier's identifiers."""


class RequeueResult(BaseModel):
    requeued: int


class MendRequest(BaseModel):
    """Corrected identifiers of a dead event's dossier, and why (audited)."""

    fields: dict[str, Annotated[str, Field(max_length=64)]] = Field(max_length=5)
    reason: str = Field(min_length=1, max_length=500)


class SkipRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


__all__ = ["DeadLetter", "MendRequest", "PortalStatus", "RelayInfo", "RequeueResult", "SkipRequest"]
