"""The officer's pages: work queues, intake at the counter, the dossier page with its actions, slips and scans.

The pages call the settlement services by import (never HTTP to itself); every route has the page guard of
:data:`hopnhat.web.auth.PAGE_PERMISSIONS` (``officer`` to read, ``intake`` to change), and every form that changes
something checks the session's CSRF token. Reading an applicant's data is audited by the service or here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hopnhat.config import VN_TZ
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, InvalidInput, NotFound
from hopnhat.i18n import translate
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.notices import repository as notice_repo
from hopnhat.registry.converters import convert_one
from hopnhat.settlement import queues, scans, service
from hopnhat.settlement import repository as repo
from hopnhat.settlement.queues import Filters, Queue
from hopnhat.settlement.schemas import ActionIn, IntakeIn
from hopnhat.settlement.workflow import ACTIONS, Action, Need, available
from hopnhat.store.models import Channel, Dossier, IdType, Status
from hopnhat.web.common import check_form, guard, lang_of, redirect, render, settings_of
from hopnhat.web.dossier_pages import center_names

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(guard("officer"))]
Writer = Annotated[Principal, Depends(guard("intake"))]

MAX_SCAN_READ = 200 * 1024 * 1024
"""Hard cap on what an upload may make the server read, whatever the setting (it is bounded to 200 MB)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise InvalidInput(f"date {value[:20]!r}: use YYYY-MM-DD") from None


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


# --- queues ------------------------------------------------------------------------------------------------------


@router.get("/officer", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    user: Reader,
    queue: Annotated[str, Query(max_length=20)] = "today",
    procedure: Annotated[str, Query(max_length=32)] = "",
    channel: Annotated[str, Query(max_length=2)] = "",
    status: Annotated[str, Query(max_length=2)] = "",
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
    code: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    hours: Annotated[float, Query(gt=0, le=2000)] = 8.0,
) -> Response:
    return _queues(request, session, user, queue, procedure, channel, status, start, end, code, page, hours, "")


@router.post("/officer/search", response_class=HTMLResponse)
def people_search(
    request: Request,
    session: SessionDep,
    user: Reader,
    text: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """By name or ID number: a POST, so the ID number never sits in a URL; own center only, audited."""
    check_form(user, csrf)
    return _queues(request, session, user, "all", "", "", "", "", "", "", 1, 8.0, text)


def _queues(
    request: Request,
    session: SessionDep,
    user: Principal,
    queue: str,
    procedure: str,
    channel: str,
    status: str,
    start: str,
    end: str,
    code: str,
    page: int,
    hours: float,
    people: str,
) -> Response:
    error = None
    try:
        which = Queue(queue)
    except ValueError:
        which = Queue.TODAY
    try:
        filters = Filters(
            procedure=procedure.strip() or None,
            channel=_int(channel),
            status=_int(status),
            start=_day(start),
            end=_day(end),
            code=code.strip() or None,
        )
        condition = queues.people_search(session, user, people) if people else None
        result = queues.queue_page(
            session,
            user,
            which,
            now=_now(),
            calendar=service.load_calendar(session),
            filters=filters,
            page=page,
            hours=hours,
            people=condition,
        )
    except HopnhatError as exc:
        error = exc.detail
        result = queues.queue_page(session, user, which, now=_now(), calendar=service.load_calendar(session))
    # The rows show applicants' names: one audited view per dossier shown, as on the center list.
    audit.record_many(session, user, "dossier.list", (("dossier", r.code, r.citizen_id) for r in result.rows))
    query = {"queue": which.value, "procedure": procedure, "channel": channel, "status": status}
    query |= {"start": start, "end": end, "code": code, "hours": f"{hours:g}"}
    return render(
        request,
        "officer/queues.html",
        user,
        "officer",
        result=result,
        queues=list(Queue),
        query=query,
        page_url=lambda n: "/officer?" + urlencode({**query, "page": n}),
        queue_url=lambda q: "/officer?" + urlencode({**query, "queue": q}),
        procedures=repo.procedures(session),
        error=error,
        people=people,
        statuses=list(Status),
        channels=list(Channel),
    )


# --- intake ------------------------------------------------------------------------------------------------------


def _catalogue(session: SessionDep, center: str | None, province_code: str) -> list[dict[str, Any]]:
    """The procedures the center may receive, with what the form shows live: checklist, fees, due date."""
    cal = service.load_calendar(session)
    now = _now()
    out = []
    for proc in service.receivable(session, center, province_code):
        try:
            due = {
                str(int(c)): service.due_preview(proc, c, cal, now).astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
                for c in Channel
            }
        except HopnhatError:
            due = {}
        out.append(
            {
                "code": proc.code,
                "name": proc.name,
                "level": proc.level,
                "documents": proc.required_documents or [],
                "fees": proc.fee_items or [],
                "fees_text": proc.fees,
                "due": due,
            }
        )
    return out


def _intake_form(
    request: Request,
    session: SessionDep,
    user: Principal,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    center = sorted(user.centers)[0] if user.centers else None
    catalogue = _catalogue(session, center, settings_of(request).province_code)
    return render(
        request,
        "officer/intake.html",
        user,
        "intake",
        status_code=status_code,
        catalogue=catalogue,
        catalogue_json=json.dumps(catalogue, ensure_ascii=False).replace("</", "<\\/"),
        centers=sorted(user.centers),
        id_types=list(IdType),
        channels=list(Channel),
        values=values or {},
        error=error,
    )


@router.get("/officer/intake", response_class=HTMLResponse)
def intake_form(request: Request, session: SessionDep, user: Writer) -> Response:
    return _intake_form(request, session, user)


@router.post("/officer/intake", response_class=HTMLResponse)
def intake(
    request: Request,
    session: SessionDep,
    user: Writer,
    procedure_code: Annotated[str, Form(max_length=32)],
    applicant_name: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    channel: Annotated[int, Form(ge=1, le=3)] = 1,
    received_center: Annotated[str, Form(max_length=40)] = "",
    applicant_id_type: Annotated[str, Form(max_length=16)] = "",
    applicant_id_number: Annotated[str, Form(max_length=20)] = "",
    applicant_phone: Annotated[str, Form(max_length=20)] = "",
    applicant_email: Annotated[str, Form(max_length=254)] = "",
    applicant_address: Annotated[str, Form(max_length=500)] = "",
    commune_code: Annotated[str, Form(max_length=8)] = "",
    notice_consent: Annotated[str, Form(max_length=5)] = "",
    documents: Annotated[list[str] | None, Form(max_length=100)] = None,
) -> Response:
    check_form(user, csrf)
    values: dict[str, Any] = {k: v for k, v in locals().items() if isinstance(v, str | int) and k not in ("csrf",)}
    values["documents"] = documents or []
    try:
        data = IntakeIn(
            procedure_code=procedure_code.strip(),
            channel=channel,
            received_center=received_center or None,
            applicant_name=applicant_name,
            applicant_id_type=IdType(applicant_id_type) if applicant_id_type else None,
            applicant_id_number=applicant_id_number.strip() or None,
            applicant_phone=applicant_phone.strip() or None,
            applicant_email=applicant_email.strip() or None,
            applicant_address=applicant_address.strip() or None,
            commune_code=commune_code.strip() or None,
            notice_consent=bool(notice_consent),
            documents=[d[:32] for d in documents or []],
            route_to_receiving_center=True,
        )
        dossier, warnings = service.receive(
            session, data, service.load_calendar(session), settings_of(request).province_code, principal=user
        )
    except (HopnhatError, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, HopnhatError) else str(exc).splitlines()[0]
        return _intake_form(request, session, user, values=values, error=detail, status_code=400)
    target = f"/officer/dossiers/{dossier.code}/slip/receipt?" + urlencode({"new": 1, "warn": warnings}, doseq=True)
    return RedirectResponse(target, status_code=303)


@router.get("/officer/address")
def address_suggestions(
    request: Request, session: SessionDep, user: Writer, text: Annotated[str, Query(max_length=500)] = ""
) -> Response:
    """The old -> new conversion of an address as the officer types it: a suggestion, never a refusal."""
    if len(text.strip()) < 4:
        return JSONResponse({"status": "empty", "candidates": []})
    try:
        result = convert_one(session, text, date.today())
    except HopnhatError:
        return JSONResponse({"status": "unavailable", "candidates": []})
    came_from = translate("candidate_from", lang_of(request))
    candidates = [
        {
            "code": c.code,
            "label": f"{c.code} {c.name}" + (f" ({came_from} {c.old_code} {c.old_name})" if c.old_code else ""),
        }
        for c in result.candidates
    ]
    if result.new_commune_code and not candidates:
        candidates = [{"code": result.new_commune_code, "label": result.new_commune_name or result.new_commune_code}]
    return JSONResponse(
        {
            "status": str(result.status),
            "new_address": result.new_address,
            "commune_code": result.new_commune_code,
            "candidates": candidates[:10],
            "reason": translate("why_" + result.reason, lang_of(request)) if result.reason else None,
        }
    )


# --- the dossier page --------------------------------------------------------------------------------------------


def _due_explained(d: Dossier) -> list[dict[str, Any]]:
    """How the due date came to be: the first one, each pause and each extension, from the steps."""
    out: list[dict[str, Any]] = []
    for s in d.steps:
        details = s.details or {}
        if s.seq == 1 and s.due_at is not None:
            out.append({"kind": "initial", "at": s.at, "due": s.due_at})
        elif "paused_hours" in details:
            out.append({"kind": "paused", "at": s.at, "due": s.due_at, "hours": details["paused_hours"]})
        elif s.action == Action.EXTEND.value:
            out.append({"kind": "extended", "at": s.at, "due": s.due_at, "note": s.note})
    return out


@router.get("/officer/dossiers/{code}", response_class=HTMLResponse)
def dossier_page(
    request: Request,
    session: SessionDep,
    user: Reader,
    code: str,
    error: Annotated[str, Query(max_length=300)] = "",
    done: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    try:
        d = service.open_dossier(session, code[:64], user)  # audited: the page shows the applicant
    except NotFound:
        return render(request, "officer/missing.html", user, "officer", status_code=404, code=code[:64])
    view = service.dossier_out(d, personal=True)
    proc = repo.procedure(session, d.procedure_code)
    handed = {x.get("code") for x in (d.extra or {}).get("documents", [])}
    documents = [
        {**doc, "handed": doc.get("code") in handed} for doc in ((proc.required_documents or []) if proc else [])
    ]
    known = {a.value: a for a in Action}
    slips = [
        (s.seq, ACTIONS[known[s.action]].slip) for s in d.steps if s.action in known and ACTIONS[known[s.action]].slip
    ]
    return render(
        request,
        "officer/dossier.html",
        user,
        "officer",
        d=d,
        view=view,
        documents=documents or [{"code": c, "name": c, "handed": True} for c in sorted(x for x in handed if x)],
        scans=scans.scans_of(session, d.code),
        actions=[(a, ACTIONS[a]) for a in available(d.status)],
        needs=Need,
        due_explained=_due_explained(d),
        portal=repo.portal_state(session, d.code),
        notices=notice_repo.for_dossier(session, d.code),
        may_write=user.can(Permission.DOSSIER_WRITE),
        slips=slips,
        handling_units=_units(session, proc.handling_units if proc is not None else []),
        center_names=center_names(session, [c for c in (d.center_code, d.received_center_code) if c]),
        error=error,
        done=done,
    )


def _units(session: SessionDep, first: list[str] | None) -> list[tuple[str, str]]:
    """The units to hand a dossier to: the procedure's handling units first, then every department."""
    units = repo.units_to_hand_to(session)
    preferred = set(first or [])
    return [u for u in units if u[0] in preferred] + [u for u in units if u[0] not in preferred]


@router.post("/officer/dossiers/{code}/act")
def dossier_action(
    request: Request,
    session: SessionDep,
    user: Writer,
    code: str,
    action: Annotated[str, Form(max_length=40)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    items: Annotated[str, Form(max_length=5000)] = "",
    where: Annotated[str, Form(max_length=500)] = "",
    new_due: Annotated[str, Form(max_length=20)] = "",
    holder_unit: Annotated[str, Form(max_length=40)] = "",
    holder_username: Annotated[str, Form(max_length=64)] = "",
    returned_to: Annotated[str, Form(max_length=200)] = "",
    return_method: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    check_form(user, csrf)
    base = f"/officer/dossiers/{code[:64]}"
    try:
        new_due_at = None
        if new_due:
            new_due_at = datetime.fromisoformat(new_due).replace(tzinfo=VN_TZ)
        data = ActionIn(
            action=action,
            note=note or None,
            reason=reason or None,
            items=[line.strip() for line in items.splitlines() if line.strip()][:50],
            where=where or None,
            new_due_at=new_due_at,
            holder_unit=holder_unit.strip() or None,
            holder_username=holder_username.strip() or None,
            returned_to=returned_to or None,
            return_method=return_method or None,
        )
        d, step = service.act_on(session, code[:64], data, principal=user, calendar=service.load_calendar(session))
    except NotFound:
        session.rollback()
        return render(request, "officer/missing.html", user, "officer", status_code=404, code=code[:64])
    except (HopnhatError, ValueError) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, HopnhatError) else str(exc).splitlines()[0]
        return redirect(base, anchor="actions", error=detail)
    slip = ACTIONS[Action(step.action or "")].slip
    if slip and slip != "receipt":
        return RedirectResponse(f"{base}/slip/{slip}?seq={step.seq}", status_code=303)
    if not service.sees(user, d):
        return redirect("/officer", queue="all")  # handed away
    return redirect(base, done=str(step.action))


# --- slips -------------------------------------------------------------------------------------------------------

SLIPS = ("receipt", "supplement", "refusal", "apology", "returned", "stop")


def qr_svg(url: str) -> str:
    """An inline SVG QR code (nothing fetched, nothing written): the slip's link to the public lookup."""
    return str(segno.make(url, error="m").svg_inline(scale=3, border=2, title=url))


@router.get("/officer/dossiers/{code}/slip/{kind}", response_class=HTMLResponse)
def slip(
    request: Request,
    session: SessionDep,
    user: Reader,
    code: str,
    kind: str,
    seq: Annotated[int, Query(ge=0, le=100000)] = 0,
    size: Annotated[str, Query(pattern="^(a4|a5)$")] = "a4",
    new: Annotated[str, Query(max_length=2)] = "",
    warn: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> Response:
    """The print view of a slip (A4 or A5 by CSS): it names the applicant, so opening it is an audited read."""
    if kind not in SLIPS:
        return render(request, "officer/missing.html", user, "officer", status_code=404, code=code[:64])
    try:
        d = service.get_dossier(session, code[:64], user)
    except NotFound:
        return render(request, "officer/missing.html", user, "officer", status_code=404, code=code[:64])
    audit.record(
        session, user, f"dossier.slip.{kind}", object_type="dossier", object_id=d.code, citizen_id=d.applicant_id_number
    )
    wanted = {
        "supplement": "request_supplement",
        "refusal": "refuse",
        "apology": "extend",
        "returned": "return_result",
        "stop": "stop",
    }
    step = None
    if kind in wanted:
        matching = [s for s in d.steps if s.action == wanted[kind] and (seq == 0 or s.seq == seq)]
        step = matching[-1] if matching else None
        if step is None and d.origin == "migrated" and kind == "apology":
            step = None  # an inherited overdue dossier: the apology letter before any extension here
        elif step is None:
            return render(request, "officer/missing.html", user, "officer", status_code=404, code=d.code)
    previous = (step.details or {}).get("previous_due_at") if step is not None else None
    lookup_url = str(request.base_url).rstrip("/") + "/lookup?" + urlencode({"code": d.code})
    proc = repo.procedure(session, d.procedure_code)
    centers = service.public_centers(session, {c for c in (d.center_code, d.received_center_code) if c})
    return render(
        request,
        "officer/slip.html",
        user,
        "officer",
        d=d,
        kind=kind,
        step=step,
        size=size,
        qr=qr_svg(lookup_url),
        lookup_url=lookup_url,
        proc=proc,
        center=centers.get(d.received_center_code or d.center_code or ""),
        handling=centers.get(d.center_code or ""),
        new=bool(new),
        warnings=[w[:300] for w in (warn or [])][:20],
        today=datetime.now(VN_TZ),
        previous_due=datetime.fromisoformat(previous) if previous else d.due_at,
        late=d.due_at is not None and d.due_at < _now() and d.status in repo.OPEN_STATUSES,
    )


# --- scans -------------------------------------------------------------------------------------------------------


@router.post("/officer/dossiers/{code}/scans")
async def upload_scan(
    request: Request,
    session: SessionDep,
    user: Writer,
    code: str,
    document_code: Annotated[str, Form(max_length=32)],
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form(max_length=200)] = "",
    digitised: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    check_form(user, csrf)
    settings = settings_of(request)
    base = f"/officer/dossiers/{code[:64]}"
    limit = int(settings.scan_max_mb * 1024 * 1024)
    content = await file.read(min(limit + 1, MAX_SCAN_READ))  # one byte over says "too large" without reading all
    try:
        scans.add_scan(
            session,
            settings,
            user,
            code[:64],
            document_code,
            file.filename or "scan",
            file.content_type,
            content,
            digitised=bool(digitised),
        )
    except HopnhatError as exc:
        session.rollback()
        return redirect(base, anchor="documents", error=exc.detail)
    return redirect(base, anchor="documents", done="scan")


@router.get("/officer/scans/{scan_id}")
def download_scan(request: Request, session: SessionDep, user: Reader, scan_id: int) -> Response:
    try:
        scan, content = scans.open_scan(session, settings_of(request), user, scan_id)
    except HopnhatError as exc:
        return render(request, "officer/missing.html", user, "officer", status_code=exc.status_code, code=str(scan_id))
    return Response(
        content,
        media_type=scan.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{scan.filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


__all__ = ["qr_svg", "router"]
