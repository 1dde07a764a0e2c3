"""Pages of the notices to citizens: the public opt-out page (``/notices/stop/<token>``) and the officer's resend of
a dead notice from the dossier's page (the dossier page lists the dossier's notices and their state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, NotFound
from hopnhat.identity.http import client_address, limiter
from hopnhat.identity.principal import Principal
from hopnhat.notices import service as notices
from hopnhat.settlement import service
from hopnhat.web.common import PublicUser, check_form, guard, render, secret_of, settings_of

router = APIRouter(include_in_schema=False)
Writer = Annotated[Principal, Depends(guard("intake"))]


def _allowed(request: Request) -> bool:
    """One allowance per client address, the public lookup's size: tokens cannot be tried in bulk."""
    return limiter(request).allow(
        f"notice-stop:{client_address(request)}", settings_of(request).public_rate_limit_per_minute
    )


@router.get("/notices/stop/{token}", response_class=HTMLResponse)
def stop_form(request: Request, user: PublicUser, token: str) -> Response:
    """Asks to confirm (a GET changes nothing: mail scanners open links), then POSTs to the same address."""
    if not _allowed(request):
        return render(request, "notice_stop.html", user, "lookup", status_code=429, state="limited", token="")
    valid = notices.read_token(secret_of(request), token[:120]) is not None
    return render(
        request,
        "notice_stop.html",
        user,
        "lookup",
        status_code=200 if valid else 404,
        state="ask" if valid else "invalid",
        token=token[:120] if valid else "",
    )


@router.post("/notices/stop/{token}", response_class=HTMLResponse)
def stop(request: Request, session: SessionDep, user: PublicUser, token: str) -> Response:
    if not _allowed(request):
        return render(request, "notice_stop.html", user, "lookup", status_code=429, state="limited", token="")
    try:
        notices.opt_out(session, secret_of(request), token[:120], client_address(request))
    except NotFound:
        return render(request, "notice_stop.html", user, "lookup", status_code=404, state="invalid", token="")
    return render(request, "notice_stop.html", user, "lookup", state="done", token="")


@router.post("/officer/dossiers/{code}/notices/{notice_id}/resend")
def resend(
    request: Request,
    session: SessionDep,
    user: Writer,
    code: str,
    notice_id: int,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Queue a dead notice of the dossier again (same message id; audited); back to the dossier's page."""
    check_form(user, csrf)
    base = f"/officer/dossiers/{code[:64]}"
    try:
        dossier = service.get_dossier(session, code[:64], user)  # 404 for a dossier outside the officer's scope
        dead = {n.id for n in notices.dead_letters(session, dossier.code)}
        if notice_id not in dead:
            raise NotFound(f"dossier {dossier.code} has no dead notice {notice_id}")
        notices.resend(session, user, notice_id)
    except HopnhatError as exc:
        session.rollback()
        from urllib.parse import urlencode

        return RedirectResponse(f"{base}?{urlencode({'error': exc.detail[:300]})}#notices", status_code=303)
    return RedirectResponse(f"{base}?done=notice_resend#notices", status_code=303)


__all__ = ["router"]
