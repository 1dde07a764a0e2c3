"""``POST /api/v1/addresses/convert``: a batch of old addresses -> the units in force."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hopnhat.deps import SessionDep
from hopnhat.errors import InvalidInput
from hopnhat.identity.http import rule
from hopnhat.identity.roles import Permission
from hopnhat.registry.convert import MAX_ADDRESS_LENGTH, NotFound, Status
from hopnhat.registry.converters import convert_many

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
    reason: NotFound | None = Field(default=None, description="Why the address is not found (status not_found).")


@router.post("/convert", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=list[ConversionOut])
def convert_addresses(body: ConvertRequest, session: SessionDep) -> list[ConversionOut]:
    """Convert each address; the answers come in the order of the request. Empty addresses are refused (422)."""
    empty = [str(i) for i, a in enumerate(body.addresses) if not a.replace(",", "").strip()]
    if empty:
        raise InvalidInput(f"addresses[{', '.join(empty[:10])}]: empty address")
    results = convert_many(session, body.addresses, body.on or date.today())
    return [ConversionOut.model_validate(asdict(r)) for r in results]


__all__ = ["router"]
