"""Queries of identity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hopnhat.identity.models import ApiToken, Secret, User, WebSession


def user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_by_subject(session: Session, issuer: str, subject: str) -> User | None:
    return session.scalar(select(User).where(User.issuer == issuer, User.subject == subject))


def users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def session_by_hash(session: Session, token_hash: str) -> WebSession | None:
    return session.scalar(select(WebSession).where(WebSession.token_hash == token_hash))


def end_sessions(session: Session, user_id: int, now: datetime) -> int:
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def tokens(session: Session, user_id: int | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return session.scalars(query).all()


def secret(session: Session, name: str) -> Secret | None:
    return session.get(Secret, name)


__all__ = [
    "end_sessions",
    "secret",
    "session_by_hash",
    "token_by_hash",
    "tokens",
    "user_by_name",
    "user_by_subject",
    "users",
]
