"""Writing to the transactional outbox. Call :func:`enqueue` in the same transaction as the status change it
describes; the portal relay (``hopnhat.portal``) delivers the events in order per dossier."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.store.models import Dossier, OutboxEvent, ProcessingStep


def dossier_snapshot(dossier: Dossier) -> dict[str, Any]:
    """The neutral state of a dossier the portal needs: no applicant ID number, phone or address."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    extra = dossier.extra or {}

    def listed(key: str) -> list[Any]:
        # Documents, fees, supplements and results live in ``extra`` until settlement gives them tables.
        value = extra.get(key)
        return list(value) if isinstance(value, list) else []

    return {
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name,
        "field_code": dossier.field_code,
        "applicant_name": dossier.applicant_name,  # ChuHoSo is a required portal field; never logged
        "applicant_type": dossier.applicant_type,
        "channel": dossier.channel,
        "status": dossier.status,
        "received_at": iso(dossier.received_at),
        "due_at": iso(dossier.due_at),
        "finished_at": iso(dossier.finished_at),
        "returned_at": iso(dossier.returned_at),
        "unit_code": dossier.unit_code,
        "center_code": dossier.center_code,
        "documents": listed("documents"),
        "fees": listed("fees"),
        "supplements": listed("supplements"),
        "results": listed("results"),
        # Decision 766 fields (the identity number and e-mail are added by the relay at delivery, not kept here)
        "origin": dossier.origin,
        "summary": extra.get("summary") if isinstance(extra.get("summary"), str) else None,
        "received_center_code": dossier.received_center_code,
        "submitted_at": iso(dossier.submitted_at),
        "refused_at": iso(dossier.refused_at),
        "vneid_signin": bool(dossier.vneid_signin),
        "paid_online": bool(dossier.paid_online),
        "digitised_documents": dossier.digitised_documents or 0,
        "former_province_code": dossier.former_province_code,
    }


def enqueue(session: Session, dossier: Dossier, kind: str, step: ProcessingStep | None = None) -> OutboxEvent:
    """Add the next event of ``dossier`` to the outbox (flushes, so ``seq`` is taken inside the transaction).

    ``kind`` is ``dossier`` (create/update the dossier: DongBoHoSoMC) or ``step`` (a processing step:
    CapNhatTienDoHoSoMC). Per-dossier sequence numbers come from the unique (dossier_code, seq) constraint: two
    writers racing on one dossier make one of them fail and retry rather than both taking the same number.
    """
    last = session.scalar(select(func.max(OutboxEvent.seq)).where(OutboxEvent.dossier_code == dossier.code))
    seq = (last or 0) + 1
    payload: dict[str, Any] = {"dossier": dossier_snapshot(dossier)}
    if step is not None:
        payload["step"] = {
            "actor": step.actor,
            "at": step.at.isoformat(),
            "from_status": step.from_status,
            "to_status": step.to_status,
            "note": step.note,
            "due_at": step.due_at.isoformat() if step.due_at else None,
        }
    event = OutboxEvent(
        dossier_code=dossier.code,
        province_code=dossier.province_code,
        seq=seq,
        kind=kind,
        payload=payload,
        idempotency_key=f"{dossier.code}:{seq}",
    )
    session.add(event)
    session.flush()
    return event


__all__ = ["dossier_snapshot", "enqueue"]
