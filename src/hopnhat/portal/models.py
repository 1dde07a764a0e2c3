"""Tables of the portal relay: who is relaying (heartbeats) and, on SQLite, the lease that lets one relay at a time
deliver (PostgreSQL relays share the work with ``SELECT ... FOR UPDATE SKIP LOCKED`` instead)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hopnhat.db import Base, UTCDateTime, utcnow


class RelayLease(Base):
    """A named lease: the holder may deliver until ``expires_at``; a crashed holder loses it when it expires."""

    __tablename__ = "portal_relay_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayHeartbeat(Base):
    """One row per relay process: when it last worked and what it did, for ``portal status``."""

    __tablename__ = "portal_relay_heartbeat"

    relay_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class PortalMend(Base):
    """An administrator's correction of a dossier's identifiers as the portal must receive them (a dead letter's
    mend): applied to every record of the dossier the relay sends from then on. The dossier itself is unchanged
    (an inherited dossier keeps its code here; only what the portal is told is corrected)."""

    __tablename__ = "portal_mend"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Portal field name -> value, among ``mapping.MENDABLE_FIELDS``."""
    reason: Mapped[str] = mapped_column(String(500))
    mended_by: Mapped[str] = mapped_column(String(100))
    mended_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["PortalMend", "RelayHeartbeat", "RelayLease"]
