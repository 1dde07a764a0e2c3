"""``/api/v1/sync``: runs, quarantine (reasons, never payloads) and the store-side reconciliation summary."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from hopnhat.deps import SessionDep
from hopnhat.errors import NotFound
from hopnhat.identity.http import rule
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.limits_http import RowId
from hopnhat.sync import repository, service, stewardship
from hopnhat.sync.models import Dismissal, QuarantinedRecord
from hopnhat.sync.schemas import DismissalIn, DismissalOut, QuarantineOut, RunOut, SourceLeftOut, SourceSummary

router = APIRouter(prefix="/sync", tags=["sync"])


def _out(q: QuarantinedRecord) -> QuarantineOut:
    return QuarantineOut(
        id=q.id, source=q.source, source_id=q.source_id, state=q.state, reasons=list(q.reasons), run_id=q.run_id
    )


@router.get("/runs", dependencies=[Depends(rule(Permission.SYNC_READ))], response_model=list[RunOut])
def list_runs(session: SessionDep, limit: int = Query(20, ge=1, le=500)) -> list[RunOut]:
    return [RunOut.model_validate(r) for r in service.runs(session, limit)]


@router.get("/quarantine", dependencies=[Depends(rule(Permission.QUARANTINE))], response_model=list[QuarantineOut])
def list_quarantine(
    session: SessionDep,
    source: str | None = None,
    state: str | None = Query("open", pattern="^(open|resolved|dismissed)$"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[QuarantineOut]:
    return [_out(q) for q in repository.quarantine_list(session, source, state, limit)]


@router.get(
    "/quarantine/{record_id}", dependencies=[Depends(rule(Permission.QUARANTINE))], response_model=QuarantineOut
)
def show_quarantine(session: SessionDep, record_id: RowId) -> QuarantineOut:
    q = session.get(QuarantinedRecord, record_id)
    if q is None:
        raise NotFound(f"quarantined record {record_id} does not exist")
    return _out(q)


@router.get(
    "/reconcile/summary", dependencies=[Depends(rule(Permission.SYNC_READ))], response_model=dict[str, SourceSummary]
)
def reconcile_summary(session: SessionDep) -> dict[str, SourceSummary]:
    return {k: SourceSummary.model_validate(v) for k, v in repository.store_summary(session).items()}


# --- the data stewards (hopnhat.sync.stewardship); corrections need the sources' mapping: pages and CLI -------------


def _dismissal(d: Dismissal) -> DismissalOut:
    return DismissalOut(
        id=d.id,
        quarantine_id=d.quarantine_id,
        reason=d.reason,
        duplicate_of=d.duplicate_of,
        state=d.state,
        proposed_by=d.proposed_by,
        decided_by=d.decided_by,
    )


@router.get("/steward/left", response_model=list[SourceLeftOut])
def steward_left(session: SessionDep, _who: Principal = Depends(rule(Permission.SYNC_READ))) -> list[SourceLeftOut]:
    """Per source: what the data stewards still have to do, the latest verdict, the cut-over once committed."""
    return [SourceLeftOut.model_validate(r, from_attributes=True) for r in stewardship.left(session)]


@router.post("/quarantine/{record_id}/dismissals", response_model=DismissalOut, status_code=201)
def propose_dismissal(
    session: SessionDep, record_id: RowId, body: DismissalIn, who: Principal = Depends(rule(Permission.QUARANTINE))
) -> DismissalOut:
    """Propose to dismiss a quarantined record; a second data steward approves it."""
    out = _dismissal(stewardship.propose_dismissal(session, who, record_id, body.reason, body.duplicate_of, body.note))
    session.commit()
    return out


@router.post("/dismissals/{dismissal_id}/approve", response_model=DismissalOut)
def approve_dismissal(
    session: SessionDep, dismissal_id: RowId, who: Principal = Depends(rule(Permission.QUARANTINE))
) -> DismissalOut:
    """Approve a dismissal another steward proposed (403 for the proposer)."""
    return _dismissal(stewardship.approve(session, who, dismissal_id))
