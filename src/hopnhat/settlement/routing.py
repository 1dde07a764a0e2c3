"""Routing of a new dossier to the competent center (Decree 118/2025: any center accepts, the system routes).

Commune-level procedures go to the service center of the applicant's commune as it is today: a commune code is
taken as given (an old code is followed through the registry), an address is converted through
``hopnhat.registry.convert``; an ambiguous address raises :class:`Conflict` listing the candidates so the officer
chooses. City-level procedures go to the provincial center. The agency codes come from the registry
(``center_for_commune`` / ``provincial_center``), which issues them under the configured rule: no group number is
ever made up here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from hopnhat.errors import Conflict, InvalidInput, NotFound
from hopnhat.registry import service as registry
from hopnhat.registry.convert import Status
from hopnhat.registry.converters import convert_one


@dataclass(frozen=True, slots=True)
class Route:
    unit_code: str | None
    center_code: str
    center_name: str | None


def commune_from_address(session: Session, address: str, day: date) -> str:
    """The commune code (today) of an address, old or new; Conflict with candidates when ambiguous."""
    result = convert_one(session, address, day)  # the process's converter: building one per dossier took a second
    if result.status == Status.AMBIGUOUS:
        names = "; ".join(c.label() for c in result.candidates)
        raise Conflict(f"the applicant's address is ambiguous; choose the commune (--commune) among: {names}")
    if result.new_commune_code is None:
        raise InvalidInput("the applicant's address names no known commune; give the commune code (--commune)")
    return result.new_commune_code


def route(session: Session, level: str, *, commune_code: str | None, address: str | None, day: date) -> Route:
    """Where a dossier of a procedure at ``level`` goes. ``commune_code`` wins over ``address`` when both given."""
    if level in ("commune",):
        code = commune_code or (commune_from_address(session, address, day) if address else None)
        if code is None:
            raise InvalidInput("a commune-level procedure needs the applicant's commune code or address")
        try:
            center = registry.center_for_commune(session, code, day)
        except Conflict as exc:
            raise Conflict(f"{exc.detail}; choose the commune (--commune)") from exc
        return Route(center.unit_code or code, center.code, center.name)
    if level in ("province", "city"):
        center = registry.provincial_center(session, on=day)
        return Route(center.unit_code, center.code, center.name)
    if level == "district":
        raise InvalidInput("the procedure is still district-level: run `hopnhat catalog relevel` first")
    raise NotFound(f"no center receives procedures of level {level!r} here")


__all__ = ["Route", "commune_from_address", "route"]
