"""Local accounts of the web pages (tài khoản)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from hopnhat.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    """What an account may see and do: see :data:`hopnhat.web.auth.PAGE_ROLES`."""

    ADMINISTRATOR = "administrator"
    DEPARTMENT_OPERATOR = "department_operator"
    CENTER_OFFICER = "center_officer"
    """Officer of one service center (cán bộ Trung tâm Phục vụ hành chính công): sees that center's dossiers only."""


class User(Base):
    """A local account; the password is stored as a salted scrypt hash, never in clear."""

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32))
    center_code: Mapped[str | None] = mapped_column(String(40))
    """Agency code of the officer's center (same value as ``store_dossier.center_code``); officers only."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["Role", "User"]
