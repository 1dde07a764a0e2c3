"""Tables of the notices: the templates an administrator edits (the bundled defaults apply where none is saved)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hopnhat.db import Base, UTCDateTime, utcnow


class NoticeTemplate(Base):
    """An administrator's version of one event's notice on one channel (``email``, ``sms``, ``zalo``)."""

    __tablename__ = "notice_template"

    event: Mapped[str] = mapped_column(String(16), primary_key=True)
    """One of ``hopnhat.store.outbox.NOTICE_EVENTS``."""
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    """The e-mail's subject (SMS and Zalo have none)."""
    body: Mapped[str] = mapped_column(Text)
    """Jinja text, rendered in a sandbox: an administrator's template can read the notice's fields, nothing else."""
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["NoticeTemplate"]
