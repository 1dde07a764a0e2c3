"""Tables of identity: accounts (tài khoản), their memberships, server-side sessions, machine tokens, generated
secrets and the shared rate-limit buckets.

The account table keeps its first name, ``web_user``, so the accounts created before identity existed keep working
without a copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hopnhat.db import Base, UTCDateTime, utcnow


class User(Base):
    """An account: a person (local, or known through the city's OpenID provider) or a service account.

    The password is an Argon2id hash (older scrypt hashes are verified and rehashed at the next sign-in); an account
    from the provider has no password here."""

    __tablename__ = "web_user"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    """Empty for an account of the provider: it cannot sign in with a password."""
    role: Mapped[str] = mapped_column(String(32))
    """The account's main role (:class:`hopnhat.identity.roles.Role`); more roles can come as memberships."""
    center_code: Mapped[str | None] = mapped_column(String(40))
    """Agency code of the officer's center (same value as ``store_dossier.center_code``)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issuer: Mapped[str | None] = mapped_column(String(300))
    """Issuer of the OpenID provider that vouches for this account; None for a local account."""
    subject: Mapped[str | None] = mapped_column(String(255))
    """``sub`` of the account at that provider: the stable key (a username may be renamed there)."""
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class Membership(Base):
    """One more thing an account is: a role beyond its main one, a center or a processing unit it belongs to."""

    __tablename__ = "identity_membership"
    __table_args__ = (UniqueConstraint("user_id", "kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``role``, ``center`` (a center's agency code) or ``unit`` (a department's or agency's code)."""
    code: Mapped[str] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="memberships")


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so a copy of the store
    cannot be used to sign in."""

    __tablename__ = "identity_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    """Random value every state-changing form and cookie-authenticated API call must echo."""
    method: Mapped[str] = mapped_column(String(16))
    """``password`` or ``oidc``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    id_token: Mapped[str | None] = mapped_column(String(8000))
    """The provider's ID token, kept for the sign-out at the provider (``id_token_hint``)."""


class ApiToken(Base):
    """A machine token of an account (``hopnhat tokens create``): shown once, stored as a SHA-256 (the token is
    256 random bits, so a slow hash buys nothing), scoped, expiring, revocable."""

    __tablename__ = "identity_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the token, to recognise it in a list without being able to use it."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(200))
    """Space-separated :class:`hopnhat.identity.roles.Scope` values."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Secret(Base):
    """A key generated on first use and shared by every process on the store (the cookie signing key)."""

    __tablename__ = "identity_secret"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateBucket(Base):
    """A counter of one key over one fixed window, shared by every worker: rate limits and sign-in failures."""

    __tablename__ = "identity_rate_bucket"
    __table_args__ = (Index("ix_identity_rate_bucket_window", "window"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Start of the window, in seconds since the epoch."""
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One thing somebody did or saw (nhật ký truy cập): append-only, written in the transaction of the action.

    ``seq``, ``prev_hash`` and ``hash`` are set by the sealing step (:func:`hopnhat.identity.audit.seal`), which
    chains the entries in order: writers never wait for one global lock, and a changed or removed entry breaks the
    chain at its place."""

    __tablename__ = "identity_audit"
    __table_args__ = (
        Index("ix_identity_audit_subject_hash", "subject_hash"),
        Index("ix_identity_audit_actor_at", "actor", "at"),
        Index("ix_identity_audit_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(64))
    """The principal's username; None for somebody not signed in (a failed sign-in)."""
    roles: Mapped[str] = mapped_column(String(200), default="")
    via: Mapped[str] = mapped_column(String(16), default="")
    client: Mapped[str | None] = mapped_column(String(64))
    """The client's address (through trusted proxies only), or ``cli``."""
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(128))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """For a change: ``{field: [old, new]}``; personal values are never copied here, only marked as changed."""
    subject_hash: Mapped[str | None] = mapped_column(String(64))
    """Keyed hash of the citizen ID number whose data was seen or changed: finds the entries without storing it."""
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head after a sealing step, signed with a key kept outside the store (``HOPNHAT_AUDIT_KEY``)."""

    __tablename__ = "identity_audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(64))
    """HMAC-SHA256 of ``seq:hash`` with the audit key; None when no key was set (demo, tests)."""
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["ApiToken", "AuditEntry", "AuditHead", "Membership", "RateBucket", "Secret", "User", "WebSession"]
