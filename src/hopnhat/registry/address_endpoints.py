"""``POST /api/v1/addresses/convert``: a batch of old addresses -> the units in force."""

from __future__ import annotations

import threading
from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.deps import SessionDep
from hopnhat.errors import InvalidInput
from hopnhat.identity.http import rule
from hopnhat.identity.roles import Permission
from hopnhat.registry.convert import MAX_ADDRESS_LENGTH, AddressConverter, Conversion, Status, bundled_converter
from hopnhat.registry.models import LineageLink, Unit

MAX_BATCH = 1000
"""Addresses per request; a larger list is refused (send several requests)."""

router = APIRouter(prefix="/addresses", tags=["addresses"])


class ConvertRequest(BaseModel):
    addresses: Annotated[
        list[Annotated[str, Field(max_length=MAX_ADDRESS_LENGTH)]], Field(min_length=1, max_length=MAX_BATCH)
    ]
    on: date | None = Field(default=None, description="Name the units in force on this date (default today).")


class CandidateOut(BaseModel):
    code: str
    name: str
    old_code: str | None = None
    old_name: str | None = None
    old_district: str | None = None
    old_province: str | None = None


class ConversionOut(BaseModel):
    input: str
    status: Status
    new_commune_code: str | None
    new_commune_name: str | None
    new_address: str | None
    street: str
    candidates: list[CandidateOut]


_convert_lock = threading.Lock()
_store_cache: dict[tuple[object, ...], AddressConverter] = {}


def _converter(session: Session, on: date) -> AddressConverter:
    """From the store's registry when it is loaded (later change sets count), else from the bundled tables.
    Rebuilt only when the registry changed (a cheap fingerprint). Call under ``_convert_lock``."""
    units, max_id = session.execute(select(func.count(), func.max(Unit.id)).select_from(Unit)).one()
    if not units:
        return bundled_converter(on, warm=True)
    links = session.scalar(select(func.count()).select_from(LineageLink))
    bind = session.get_bind()
    key = (str(bind.engine.url), units, max_id, links, on)
    conv = _store_cache.get(key)
    if conv is None:
        conv = AddressConverter.from_store(session, on).warm()
        if len(_store_cache) > 16:
            _store_cache.clear()
        _store_cache[key] = conv
    return conv


def convert_one(session: Session, text: str, on: date) -> Conversion:
    """Convert one address as the API does (the pages and the officer's intake call this)."""
    with _convert_lock:
        return _converter(session, on).convert(text)


@router.post("/convert", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=list[ConversionOut])
def convert_addresses(body: ConvertRequest, session: SessionDep) -> list[ConversionOut]:
    """Convert each address; the answers come in the order of the request. Empty addresses are refused (422)."""
    empty = [str(i) for i, a in enumerate(body.addresses) if not a.replace(",", "").strip()]
    if empty:
        raise InvalidInput(f"addresses[{', '.join(empty[:10])}]: empty address")
    with _convert_lock:  # the converters' memos are shared; the GIL would serialise the work anyway
        conv = _converter(session, body.on or date.today())
        results = [conv.convert(a) for a in body.addresses]
    return [ConversionOut.model_validate(asdict(r)) for r in results]


__all__ = ["convert_one", "router"]
