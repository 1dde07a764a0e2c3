"""The audit log's pages: who saw whose personal data and who changed what, its export, and one citizen's report.
They call :mod:`hopnhat.identity.audit` by import."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Query, Request
from fastapi.responses import Response

from hopnhat.deps import SessionDep
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.web.common import check_form, guard, panel, render

AUDIT_PER_PAGE = 25


def _audit_filters(actor: str, action: str, object: str) -> audit.Filters:
    return audit.Filters(
        actor=actor.strip()[:64] or None, action=action.strip()[:64] or None, object_id=object.strip()[:128] or None
    )


def audit_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("audit"))],
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    object: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    rows = [audit.as_row(e) for e in audit.entries(session, _audit_filters(actor, action, object))]
    audit.record(session, user, "audit.query", object_type="audit")
    return _audit_render(request, user, rows, actor, action, object, citizen=False)


def _audit_render(
    request: Request,
    user: Principal,
    rows: list[dict[str, Any]],
    actor: str,
    action: str,
    object: str,
    *,
    citizen: bool,
) -> Response:
    # The log is paged; one citizen's report (a POST: the ID number stays out of URLs) is shown whole (bounded).
    listing = panel(
        request, "audit", "audit", lambda: rows, drop=(), per_page=(len(rows) or 1) if citizen else AUDIT_PER_PAGE
    )
    return render(
        request,
        "audit.html",
        user,
        "audit",
        rows=listing.items,
        listing=listing,
        columns=AUDIT_COLUMNS,
        actor=actor,
        action=action,
        object=object,
        export_query=urlencode({"actor": actor, "action": action, "object": object}),
        citizen=citizen,
    )


AUDIT_COLUMNS = ["seq", "at", "actor", "roles", "client", "action", "object_type", "object_id", "changes"]


def _report_file(rows: list[dict[str, Any]], fmt: str, name: str) -> Response:
    from hopnhat.identity.cli import render_report

    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )
    return Response(
        render_report(rows, fmt),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def audit_export(
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("audit"))],
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    object: Annotated[str, Query(max_length=128)] = "",
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    rows = [audit.as_row(e) for e in audit.entries(session, _audit_filters(actor, action, object))]
    audit.record(session, user, "audit.export", object_type="audit")
    return _report_file(rows, format, "audit")


def audit_citizen(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("audit"))],
    id_number: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    format: Annotated[str, Form(pattern="^(html|csv|xlsx)$")] = "html",
) -> Response:
    """A POST, so the ID number never sits in a URL (access logs, history, Referer)."""
    check_form(user, csrf)
    rows = audit.citizen_report(session, id_number)
    audit.record(session, user, "audit.citizen_report", object_type="audit", citizen_id=id_number)
    if format != "html":
        return _report_file(rows, format, "citizen-accesses")
    return _audit_render(request, user, rows, "", "", "", citizen=True)


__all__ = ["audit_citizen", "audit_export", "audit_page"]
