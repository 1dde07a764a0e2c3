"""Writing to the transactional outbox. Call :func:`enqueue` (the portal) and :func:`enqueue_notices` (the citizen)
in the same transaction as the status change they describe; the portal relay (``hopnhat.portal``) and the notice
relays (``hopnhat.notices``) deliver the events in order per destination and dossier."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.config import notice_channels
from hopnhat.store.models import Destination, Dossier, OutboxEvent, ProcessingStep


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
    seq = _next_seq(session, dossier.code)
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
        destination=Destination.PORTAL,
        kind=kind,
        payload=payload,
        idempotency_key=f"{dossier.code}:{seq}",
    )
    session.add(event)
    session.flush()
    return event


def _next_seq(session: Session, code: str) -> int:
    last = session.scalar(select(func.max(OutboxEvent.seq)).where(OutboxEvent.dossier_code == code))
    return (last or 0) + 1


NOTICE_EVENTS = ("receipt", "supplement", "refusal", "delay", "result")
"""The events a citizen is told of: receipt (tiếp nhận), supplement request (yêu cầu bổ sung), refusal (từ chối),
delay with the new date (gia hạn), result ready (có kết quả)."""


def notice_targets(dossier: Dossier, channels: tuple[str, ...]) -> list[Destination]:
    """The channels a notice of ``dossier`` may go by: with the applicant's consent, to a contact given with it
    (e-mail for ``email``, the phone for ``sms`` and ``zalo``), among the enabled ``channels``."""
    if not dossier.notice_consent:
        return []
    targets = []
    for channel in channels:
        destination = Destination(channel)
        contact = dossier.applicant_email if destination is Destination.EMAIL else dossier.applicant_phone
        if contact and contact.strip():
            targets.append(destination)
    return targets


def enqueue_notices(
    session: Session, dossier: Dossier, event: str, params: dict[str, Any] | None = None
) -> list[OutboxEvent]:
    """Queue the notice of ``event`` to the applicant on every channel :func:`notice_targets` allows.

    The payload holds what the template needs and no contact: the relay reads the contact and the consent again
    at delivery, so an opt-out stops a notice still queued. The idempotency key is the notice's identity: the
    message id every send of it carries.
    """
    if event not in NOTICE_EVENTS:
        raise ValueError(f"unknown notice event {event!r}")
    events = []
    for destination in notice_targets(dossier, notice_channels()):
        seq = _next_seq(session, dossier.code)
        notice = OutboxEvent(
            dossier_code=dossier.code,
            province_code=dossier.province_code,
            seq=seq,
            destination=destination,
            kind=event,
            payload={
                "event": event,
                "params": params or {},
                "procedure_name": dossier.procedure_name,
                "center_code": dossier.center_code,
            },
            idempotency_key=f"{destination.value}:{dossier.code}:{seq}",
        )
        session.add(notice)
        session.flush()
        events.append(notice)
    return events


__all__ = ["NOTICE_EVENTS", "dossier_snapshot", "enqueue", "enqueue_notices", "notice_targets"]
