"""Shapes of the notices' API and pages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TemplateOut(BaseModel):
    event: str
    channel: str
    subject: str | None
    body: str
    edited_by: str | None
    """None: the bundled default is in force."""


class TemplateIn(BaseModel):
    subject: str | None = Field(default=None, max_length=200)
    body: str = Field(max_length=4000)


class DeadNotice(BaseModel):
    """A notice that could not be delivered: no contact in it (the channel and the masked contact at most)."""

    id: int
    dossier_code: str
    channel: str
    event: str
    attempts: int
    last_error: str | None
    created_at: datetime


class NoticeCounts(BaseModel):
    channel: str
    pending: int = 0
    delivered: int = 0
    dead: int = 0
    skipped: int = 0


__all__ = ["DeadNotice", "NoticeCounts", "TemplateIn", "TemplateOut"]
