"""FastAPI dependencies shared by every part's endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hopnhat.config import Settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed once after the endpoint returns, rolled back on error."""
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
"""Committed before the response is sent: FastAPI's default for a dependency with ``yield`` now ends it after the
response, so a browser following a redirect (sign-in, then its landing page) could read the store before the sign-in's
session was committed, and be sent back to sign in."""
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
