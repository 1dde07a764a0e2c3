"""Stores with data for the operations tests: dossiers with steps, a chained audit log, scans on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from hopnhat.db import session_scope
from hopnhat.identity import audit
from hopnhat.identity.roles import Role
from hopnhat.store.models import Dossier, ProcessingStep
from tests.identity_support import principal

HOPNHAT = str(Path(sys.executable).parent / "hopnhat")


def fill(engine: Engine, files: Path | None = None, dossiers: int = 12) -> None:
    """A few dossiers with Vietnamese names and steps, audited reads sealed into the chain, two scans."""
    start = datetime(2025, 7, 1, 1, 30, tzinfo=UTC)
    who = principal(Role.DATA_STEWARD)
    with session_scope(engine) as session:
        for n in range(dossiers):
            dossier = Dossier(
                code=f"000.00.31.H13-250701-{n + 1:04d}",
                province_code="92",
                procedure_code="1.001193",
                applicant_name=f"Nguyễn Thị Ánh {n}",
                applicant_id_number=f"0920{n:08d}",
                status=2,
                received_at=start + timedelta(hours=n),
                extra={"ghi_chú": "hồ sơ mẫu", "n": n},
            )
            dossier.steps.append(
                ProcessingStep(seq=1, at=start + timedelta(hours=n), actor="officer", to_status=2, note="Tiếp nhận")
            )
            session.add(dossier)
            audit.record(session, who, "dossier.read", object_type="dossier", object_id=dossier.code)
    audit.seal_now(engine, None)
    if files is not None:
        (files / "2025" / "07").mkdir(parents=True, exist_ok=True)
        (files / "2025" / "07" / "scan-0001.pdf").write_bytes(b"%PDF-1.4 scan " * 100)
        (files / "giay-to.png").write_bytes(bytes(range(256)) * 4)


def run(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real ``hopnhat`` process (a command as an operator types it)."""
    return subprocess.run(
        [HOPNHAT, "--db", url, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
