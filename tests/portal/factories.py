"""Plain factories: dossiers with outbox events written through the real ``enqueue``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from hopnhat.store.models import Dossier, ProcessingStep
from hopnhat.store.outbox import enqueue

RECEIVED = datetime(2026, 2, 10, 2, 30, tzinfo=UTC)  # 09:30 in Vietnam


def make_dossier(session: Session, code: str, **fields: object) -> Dossier:
    values: dict[str, object] = {
        "code": code,
        "province_code": "92",
        "procedure_code": "1.001193",
        "procedure_name": "Đăng ký khai sinh",
        "field_code": "HT",
        "applicant_name": "Nguyễn Văn An",
        "applicant_id_number": "092099001234",
        "status": 2,
        "channel": 2,
        "received_at": RECEIVED,
        "due_at": RECEIVED + timedelta(days=3),
        "unit_code": "31117",
        "center_code": "000.00.31.H13",
    }
    values.update(fields)
    dossier = Dossier(**values)
    session.add(dossier)
    session.flush()
    enqueue(session, dossier, "dossier")
    return dossier


def add_steps(session: Session, dossier: Dossier, count: int) -> None:
    """``count`` processing steps, each with its outbox event (status cycles through 4 'in process')."""
    for i in range(count):
        step = ProcessingStep(
            dossier_id=dossier.id,
            seq=len(dossier.steps) + 1,
            at=RECEIVED + timedelta(hours=i + 1),
            actor=f"canbo{i % 3}",
            from_status=dossier.status,
            to_status=4,
            note=f"bước {i + 1}",
            due_at=dossier.due_at,
        )
        dossier.steps.append(step)
        dossier.status = 4
        session.flush()
        enqueue(session, dossier, "step", step)


def make_outbox(session: Session, dossiers: int, steps: int, prefix: str = "H13-260210") -> list[str]:
    codes = []
    for d in range(dossiers):
        dossier = make_dossier(session, f"{prefix}-{d:04d}")
        add_steps(session, dossier, steps)
        codes.append(dossier.code)
    return codes
