"""The working calendar's pages: the operator's table (``/calendar``: days off, Saturdays worked, "not a day off",
each with its legal basis) and the due dates an edit would move, waiting for a decision (``/calendar/decisions``).

An edit never moves a due date: it lists the open dossiers whose due date it would move, and an officer of the
dossier's center or an administrator keeps or moves each (or all). The rules are
:mod:`hopnhat.settlement.calendar_edits`; this module only reads forms and renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError
from hopnhat.i18n import translate
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.settlement import calendar_edits
from hopnhat.settlement.calendar import OVERRIDE_KINDS
from hopnhat.settlement.calendar_edits import Decision
from hopnhat.web.common import check_form, guard, lang_of, redirect, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

CalendarUser = Annotated[Principal, Depends(guard("calendar"))]
DecidingUser = Annotated[Principal, Depends(guard("due_decisions"))]

_BACK = {"calendar": "/calendar", "decisions": "/calendar/decisions"}
"""Where a decision returns: the page it was made on (a fixed list, never a URL from the form)."""


@router.get("/calendar")
def calendar_page(
    request: Request,
    session: SessionDep,
    user: CalendarUser,
    saved: Annotated[str, Query(max_length=10)] = "",
    listed: Annotated[str, Query(max_length=10)] = "",
    decided: Annotated[str, Query(max_length=10)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    rows = calendar_edits.calendar_table(session)
    deciding = user.can(Permission.DUE_DECISIONS)
    return render(
        request,
        "calendar.html",
        user,
        "calendar",
        rows=rows,
        kinds=OVERRIDE_KINDS,
        basis_max=calendar_edits.LEGAL_BASIS_MAX,
        reviews=calendar_edits.reviews(session, user) if deciding else [],
        deciding=deciding,
        back="calendar",
        saved=saved,
        listed=listed,
        decided=decided,
        error=error,
    )


@router.post("/calendar/days")
def calendar_set_day(
    request: Request,
    session: SessionDep,
    user: CalendarUser,
    day: Annotated[str, Form(max_length=10)],
    kind: Annotated[str, Form(max_length=10)],
    legal_basis: Annotated[str, Form(max_length=calendar_edits.LEGAL_BASIS_MAX)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return redirect("/calendar", error=f"{translate('cal_bad_day', lang_of(request))}: {day[:20]!r}")
    try:
        edit = calendar_edits.edit_day(session, when, kind, legal_basis, principal=user)
    except HopnhatError as exc:
        session.rollback()
        return redirect("/calendar", error=exc.detail)
    return redirect("/calendar", saved=when.isoformat(), listed=str(len(edit.reviews)))


@router.post("/calendar/days/{day}/remove")
def calendar_remove_day(
    request: Request,
    session: SessionDep,
    user: CalendarUser,
    day: str,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        when = date.fromisoformat(day[:10])
        edit = calendar_edits.edit_day(session, when, None, None, principal=user)
    except ValueError:
        return redirect("/calendar", error=f"{translate('cal_bad_day', lang_of(request))}: {day[:20]!r}")
    except HopnhatError as exc:
        session.rollback()
        return redirect("/calendar", error=exc.detail)
    return redirect("/calendar", saved=when.isoformat(), listed=str(len(edit.reviews)))


@router.get("/calendar/decisions")
def decisions_page(
    request: Request,
    session: SessionDep,
    user: DecidingUser,
    decided: Annotated[str, Query(max_length=10)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    return render(
        request,
        "calendar_decisions.html",
        user,
        "due_decisions",
        reviews=calendar_edits.reviews(session, user),
        deciding=True,
        back="decisions",
        decided=decided,
        error=error,
    )


@dataclass(frozen=True)
class DecisionForm:
    """A decision posted from the calendar or the decisions page: the page to go back to, and move or keep (None
    when the form sent neither)."""

    target: str
    decision: Decision | None
    lang: str


def decision_form(
    request: Request,
    user: DecidingUser,
    decision: Annotated[str, Form(max_length=10)],
    back: Annotated[str, Form(max_length=20)] = "decisions",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> DecisionForm:
    """The part both decision forms share: the CSRF check, the page to return to, the decision parsed."""
    check_form(user, csrf)
    try:
        chosen: Decision | None = Decision(decision)
    except ValueError:
        chosen = None
    return DecisionForm(_BACK.get(back, _BACK["decisions"]), chosen, lang_of(request))


DecisionDep = Annotated[DecisionForm, Depends(decision_form)]


@router.post("/calendar/decisions")
def decide_all(session: SessionDep, user: DecidingUser, form: DecisionDep) -> Response:
    if form.decision is None:
        return redirect(form.target, error=translate("cal_bad_decision", form.lang))
    done = calendar_edits.decide_all(session, form.decision, principal=user)
    return redirect(form.target, decided=str(len(done)))


@router.post("/calendar/decisions/{code}")
def decide_one(session: SessionDep, user: DecidingUser, code: str, form: DecisionDep) -> Response:
    if form.decision is None:
        return redirect(form.target, error=translate("cal_bad_decision", form.lang))
    try:
        calendar_edits.decide(session, code[:64], form.decision, principal=user)
    except HopnhatError as exc:
        session.rollback()
        return redirect(form.target, error=exc.detail)
    return redirect(form.target, decided="1")


__all__ = ["router"]
