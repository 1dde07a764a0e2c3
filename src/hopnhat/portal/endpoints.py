"""``/api/v1/portal``: delivery status, dead letters and requeue (thin: the rules are in ``service``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hopnhat.deps import SessionDep
from hopnhat.identity import audit
from hopnhat.identity.http import rule
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.limits_http import RowId
from hopnhat.portal import service
from hopnhat.portal.schemas import DeadLetter, MendRequest, PortalStatus, RequeueResult, SkipRequest

router = APIRouter(prefix="/portal", tags=["portal"])


@router.get(
    "/status",
    dependencies=[Depends(rule(Permission.PORTAL_READ))],
)
def get_status(session: SessionDep) -> PortalStatus:
    """Backlog, lag (age of the oldest pending event), failures, dead letters and the relays' heartbeats."""
    return service.status(session)


@router.get(
    "/dead",
    dependencies=[Depends(rule(Permission.PORTAL_READ))],
)
def list_dead(session: SessionDep, limit: int = Query(100, ge=1, le=1000)) -> list[DeadLetter]:
    """Events the relay gave up on; each blocks the later events of its dossier."""
    return service.dead_letters(session, limit)


Writer = Annotated[Principal, Depends(rule(Permission.PORTAL_WRITE))]


@router.post("/dead/{event_id}/requeue")
def requeue_one(event_id: RowId, session: SessionDep, who: Writer) -> RequeueResult:
    """Put a dead event back in the queue (its attempts start again from zero)."""
    done = RequeueResult(requeued=service.requeue(session, event_id))
    audit.record(session, who, "portal.requeue", object_type="outbox_event", object_id=str(event_id))
    return done


@router.post("/dead/{event_id}/mend")
def mend_one(event_id: RowId, body: MendRequest, session: SessionDep, who: Writer) -> RequeueResult:
    """Correct the dossier's identifiers as the portal must receive them, and send the event again (audited)."""
    changes = service.mend(session, event_id, body.fields, body.reason, who.username or "")
    audit.record(session, who, "portal.mend", object_type="outbox_event", object_id=str(event_id), changes=changes)
    return RequeueResult(requeued=1)


@router.post("/dead/{event_id}/skip")
def skip_one(event_id: RowId, body: SkipRequest, session: SessionDep, who: Writer) -> RequeueResult:
    """Give up a dead event for good: its dossier's later events go on (audited, with the reason)."""
    changes = service.skip(session, event_id, body.reason)
    audit.record(session, who, "portal.skip", object_type="outbox_event", object_id=str(event_id), changes=changes)
    return RequeueResult(requeued=0)


@router.post("/dead/requeue")
def requeue_every(session: SessionDep, who: Writer) -> RequeueResult:
    """Requeue every dead event."""
    done = RequeueResult(requeued=service.requeue_all(session))
    audit.record(session, who, "portal.requeue_all", changes={"requeued": [None, done.requeued]})
    return done


__all__ = ["router"]
