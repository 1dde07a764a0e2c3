"""``/api/v1/notices``: counts, dead letters and their resend, templates (thin: the rules are in ``service``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hopnhat.deps import SessionDep
from hopnhat.identity.http import rule
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.limits_http import RowId
from hopnhat.notices import service
from hopnhat.notices.schemas import DeadNotice, NoticeCounts, TemplateIn, TemplateOut

router = APIRouter(prefix="/notices", tags=["notices"])

Reader = Depends(rule(Permission.NOTICES_READ))
Writer = Annotated[Principal, Depends(rule(Permission.NOTICES_WRITE))]
Editor = Annotated[Principal, Depends(rule(Permission.NOTICE_TEMPLATES))]


@router.get("/status", dependencies=[Reader])
def get_status(session: SessionDep) -> list[NoticeCounts]:
    """Notices per channel and state (skipped: no consent or no contact at delivery)."""
    return service.counts(session)


@router.get("/dead", dependencies=[Reader])
def list_dead(
    session: SessionDep,
    dossier: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadNotice]:
    """Notices the relays gave up on; each holds its dossier's later notices on its channel."""
    return service.dead_letters(session, dossier, limit)


@router.post("/dead/{notice_id}/resend")
def resend(notice_id: RowId, session: SessionDep, who: Writer) -> DeadNotice:
    """Queue a dead notice again: same message id, attempts from zero (audited)."""
    return service.resend(session, who, notice_id)


@router.get("/templates")
def list_templates(session: SessionDep, _who: Editor) -> list[TemplateOut]:
    """Every event's template per channel: the administrator's version or the bundled default."""
    return service.list_templates(session)


@router.put("/templates/{event}/{channel}")
def edit_template(event: str, channel: str, body: TemplateIn, session: SessionDep, who: Editor) -> TemplateOut:
    """Save a template (rendered with sample values first; must give ``{{ stop_url }}``; audited)."""
    return service.edit_template(session, who, event[:16], channel[:16], body.subject, body.body)


__all__ = ["router"]
