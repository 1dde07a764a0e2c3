"""The dossiers' pages: the citizen's lookup (no personal data) and the officers' list per center, paged. They call
:mod:`hopnhat.settlement` by import; the list's overdue flag is the settlement service's rule."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from hopnhat.continuity import repository as continuity_repo
from hopnhat.deps import SessionDep
from hopnhat.errors import NotFound
from hopnhat.identity import audit
from hopnhat.identity.http import limiter
from hopnhat.identity.principal import Principal
from hopnhat.registry import repository as registry_repo
from hopnhat.settlement import repository as settlement_repo
from hopnhat.settlement import service as settlement
from hopnhat.settlement.endpoints import lookup_key
from hopnhat.settlement.schemas import PublicDossierOut
from hopnhat.web.common import PageForbidden, PublicUser, guard, render, settings_of

DOSSIERS_PER_PAGE = 25
"""Rows of an officer's list on one page (one table alone on its page)."""


def public_dossier(session: Session, code: str) -> PublicDossierOut | None:
    """The citizen's view of one dossier (never the applicant's data), or None for an unknown code."""
    try:
        return settlement.public_view(session, code)
    except NotFound:
        return None


def lookup(
    request: Request, session: SessionDep, user: PublicUser, code: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    code = unicodedata.normalize("NFC", code.strip())[:64]
    # The API's allowance: a client cannot double it by alternating between the page and the API.
    if code and not limiter(request).allow(lookup_key(request), settings_of(request).public_rate_limit_per_minute):
        return render(
            request,
            "lookup.html",
            user,
            "lookup",
            status_code=429,
            code=code,
            result=None,
            searched=False,
            limited=True,
        )
    result = public_dossier(session, code) if code else None
    signed_out = request.query_params.get("signed_out") == "1" and user is None
    return render(
        request, "lookup.html", user, "lookup", code=code, result=result, searched=bool(code), signed_out=signed_out
    )


@dataclass(frozen=True)
class DossierRow:
    """A row of an officer's list: the applicant's name is shown, other personal data is not."""

    code: str
    procedure: str
    applicant: str | None
    status: int
    received_at: datetime | None
    due_at: datetime | None
    center: str | None
    overdue: bool
    citizen_id: str | None
    """Not shown: lets the page record in the audit log whose data it showed."""


@dataclass(frozen=True)
class DossierPage:
    rows: list[DossierRow]
    total: int
    page: int
    pages: int


def center_dossiers(
    session: Session, center: str | None, scope: Principal, *, overdue_only: bool, page: int, now: datetime
) -> DossierPage:
    """One page of the dossiers of ``center`` that the principal's scope sees."""
    offset = (page - 1) * DOSSIERS_PER_PAGE
    found, total = settlement_repo.center_list(
        session,
        center,
        scope.dossier_scope,
        late_before=now if overdue_only else None,
        offset=offset,
        limit=DOSSIERS_PER_PAGE,
    )
    rows = [
        DossierRow(
            code=d.code,
            procedure=d.procedure_name or d.procedure_code,
            applicant=d.applicant_name,
            status=d.status,
            received_at=d.received_at,
            due_at=d.due_at,
            center=d.center_code,
            overdue=settlement.is_late(d, now),
            citizen_id=d.applicant_id_number,
        )
        for d in found
    ]
    return DossierPage(rows, total, page, max(1, -(-total // DOSSIERS_PER_PAGE)))


def center_agency_code(session: Session, code: str) -> str:
    """The agency code of the center that ``code`` names (its agency code or its commune code), as dossiers carry
    it; ``code`` itself when no center matches (the dossier filter then simply finds what it finds)."""
    center = continuity_repo.center_by_code(session, code)
    return center.agency_code if center is not None and center.agency_code else code


def center_names(session: Session, codes: Iterable[str | None]) -> dict[str, str]:
    """Agency code -> the center's name: the continuity center's, else the registry agency's (a dossier may be
    routed to a center before the centers are seeded)."""
    wanted = {c for c in codes if c}
    names = {code: center.name for code, center in continuity_repo.centers_by_agency_code(session, wanted).items()}
    for code in sorted(wanted - names.keys()):
        agency = registry_repo.agency_by_code(session, code)
        if agency is not None:
            names[code] = agency.name
    return names


def dossiers_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("dossiers"))],
    center: Annotated[str, Query(max_length=40)] = "",
    overdue: Annotated[str, Query(max_length=5)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    # A center may be named by its commune code too (as in `hopnhat users add --center`); dossiers carry the
    # agency code.
    center = center_agency_code(session, center.strip()) if center.strip() else ""
    scope = user.dossier_scope
    if not scope.everything:
        if center and center not in scope.centers:
            raise PageForbidden("dossiers")
        centers = sorted(scope.centers)
        if not center and len(centers) == 1:
            center = centers[0]  # an officer of one center sees that center's list, named as such
    else:
        centers = settlement_repo.dossier_centers(session)
        if center and center not in centers:
            centers.append(center)
    listing = center_dossiers(
        session, center or None, user, overdue_only=bool(overdue), page=page, now=datetime.now(UTC)
    )
    # The list shows applicants' names: one audited view per dossier shown, so each citizen's report finds it.
    audit.record_many(session, user, "dossier.list", (("dossier", r.code, r.citizen_id) for r in listing.rows))
    names = center_names(session, [*centers, *(r.center for r in listing.rows)])
    query = {"center": center, "overdue": "1" if overdue else ""}
    return render(
        request,
        "dossiers.html",
        user,
        "dossiers",
        listing=listing,
        rows=listing.rows,
        center=center,
        centers=centers,
        center_names=names,
        overdue=bool(overdue),
        all_centers=scope.everything or len(centers) > 1,
        page_query={k: v for k, v in query.items() if v},
    )


__all__ = [
    "DossierPage",
    "DossierRow",
    "center_agency_code",
    "center_dossiers",
    "center_names",
    "dossiers_page",
    "lookup",
    "public_dossier",
]
