"""``/api/v1/identity``: who the caller is (the rest of identity is the CLI's and the pages')."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hopnhat.identity.http import rule
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission

router = APIRouter(prefix="/identity", tags=["identity"])


class MeOut(BaseModel):
    username: str
    roles: list[str]
    centers: list[str]
    units: list[str]
    via: str
    scopes: list[str] | None
    permissions: list[str]


@router.get("/me", response_model=MeOut)
def me(principal: Annotated[Principal, Depends(rule(Permission.SELF))]) -> MeOut:
    """The principal the request acts as: its roles, centers, units and, for a token, its scopes."""
    return MeOut(
        username=principal.username or "",
        roles=sorted(principal.roles),
        centers=sorted(principal.centers),
        units=sorted(principal.units),
        via=principal.via,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
        permissions=sorted(p.value for p in principal.permissions if principal.can(p)),
    )


__all__ = ["router"]
