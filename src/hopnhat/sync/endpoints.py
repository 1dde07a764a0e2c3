"""``/api/v1/sync``: runs, quarantine (reasons, never payloads) and the store-side reconciliation summary."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from hopnhat.deps import SessionDep
from hopnhat.errors import NotFound
from hopnhat.identity.http import rule
from hopnhat.identity.roles import Permission
from hopnhat.limits_http import RowId
from hopnhat.sync import repository, service
from hopnhat.sync.models import QuarantinedRecord
from hopnhat.sync.schemas import QuarantineOut, RunOut, SourceSummary

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
    state: str | None = Query("open", pattern="^(open|resolved)$"),
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
