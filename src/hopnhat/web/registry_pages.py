"""The registry's pages: units in force on a day (searchable, with their parent's name) and the address converter.
They call :mod:`hopnhat.registry` by import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError
from hopnhat.i18n import translate, translate_reason
from hopnhat.identity.principal import Principal
from hopnhat.registry import repository as registry_repo
from hopnhat.registry import service as registry
from hopnhat.registry.convert import Conversion
from hopnhat.registry.converters import convert_one
from hopnhat.registry.schemas import UnitOut
from hopnhat.web.common import guard, lang_of, panel, render, settings_of

LEVELS = ("commune", "district", "province")
UNITS_SHOWN = 300
"""Units a page lists at most when nothing is searched (a search answers its best 50)."""
UNITS_PER_PAGE = 25


@dataclass(frozen=True)
class UnitRow:
    """A unit in force, with its parent's name beside the parent's code."""

    code: str
    name: str
    type: str
    parent_code: str | None
    parent_name: str | None
    valid_from: date | None
    valid_to: date | None


def units(session: Session, text: str, day: date, level: str, province: str) -> list[UnitRow]:
    found: list[UnitOut]
    if text.strip():
        found = [hit.unit for hit in registry.search(session, text, day, level=level, limit=50).hits]
    else:
        active = registry_repo.active_units(session, day, level=level, provinces=[province])
        found = [UnitOut.model_validate(u) for u in active[:UNITS_SHOWN]]
    parents = {
        code: registry_repo.unit_on(session, code, day) for code in {u.parent_code for u in found if u.parent_code}
    }
    return [
        UnitRow(
            code=u.code,
            name=u.name,
            type=u.type,
            parent_code=u.parent_code,
            parent_name=p.name if u.parent_code and (p := parents.get(u.parent_code)) is not None else None,
            valid_from=u.valid_from,
            valid_to=u.valid_to,
        )
        for u in found
    ]


def registry_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("registry"))],
    q: Annotated[str, Query(max_length=200)] = "",
    level: Annotated[str, Query(max_length=20)] = "commune",
    on: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    lang = lang_of(request)
    error = None
    rows: list[UnitRow] = []
    level = level if level in LEVELS else "commune"
    try:
        day = date.fromisoformat(on) if on else date.today()
        rows = units(session, q, day, level, settings_of(request).province_code)
    except ValueError:
        day, error = date.today(), f"{translate('error_input', lang)}: {translate('on_date', lang)}"
    except HopnhatError as exc:
        error = translate_reason(exc.detail, lang)
    listing = panel(request, translate("registry", lang), "units", lambda: rows, per_page=UNITS_PER_PAGE)
    return render(
        request,
        "registry.html",
        user,
        "registry",
        q=q,
        level=level,
        levels=LEVELS,
        on=day,
        rows=listing.items,
        listing=listing,
        error=error,
    )


def convert_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("registry"))],
    address: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    result: Conversion | None = None
    error = None
    if address.strip():
        try:
            result = convert_one(session, address, date.today())
        except HopnhatError as exc:
            error = translate_reason(exc.detail, lang_of(request))
    return render(request, "convert.html", user, "convert", address=address, result=result, error=error)


__all__ = ["UnitRow", "convert_page", "registry_page", "units"]
