"""Who owns a migrated dossier: once an officer acted on it here, a later change of its record in the former
system is flagged on the dossier, never applied over the officer's work; a dossier nobody acted on still follows
its source."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.identity.roles import Role
from hopnhat.legacy import generate
from hopnhat.registry.codes import CodeRule
from hopnhat.registry.service import issue_codes
from hopnhat.settlement import queues
from hopnhat.settlement import service as settlement
from hopnhat.settlement.schemas import ActionIn
from hopnhat.store.models import Dossier, Status
from hopnhat.sync import service
from hopnhat.sync.load import OWNED_HERE_REASON
from tests.identity_support import principal
from tests.sync.helpers import config, store

IN_PROCESS_IN_SOURCE = 2
"""Sóc Trăng's own code for "Đang giải quyết" (national 4)."""


def _change_in_source(db: Path, codes: list[str]) -> None:
    """The former system moves these dossiers back to in process with a new due date, as its officers still might."""
    with sqlite3.connect(db) as conn:
        latest = conn.execute("SELECT max(ngay_cap_nhat) FROM tb_hoso").fetchone()[0]
        later = (datetime.fromisoformat(str(latest)) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
        for code in codes:
            conn.execute(
                "UPDATE tb_hoso SET trang_thai = ?, ngay_hen_tra = ?, ngay_cap_nhat = ? WHERE ma_hs = ?",
                (IN_PROCESS_IN_SOURCE, "2030-01-01 17:00:00", later, code),
            )


def test_a_change_in_the_former_system_after_an_officer_acted_is_flagged_not_applied(
    tmp_path: Path, store_url: str
) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=11, fault_rate=0.0, sql="sqlite", xlsx=False)
    engine = store(store_url)
    with Session(engine) as s:
        issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))  # the centers the dossiers are routed to
        s.commit()
    sources = service.pick(config(out), "soctrang")
    service.run(engine, sources)
    with Session(engine) as s:
        # Finished in the former system, its result not yet returned: the officer here hands it back to the center.
        acted = s.scalars(
            select(Dossier).where(Dossier.source_name == "soctrang", Dossier.status == int(Status.FINISHED))
        ).first()
        untouched = s.scalars(
            select(Dossier).where(Dossier.source_name == "soctrang", Dossier.status == int(Status.RETURNED))
        ).first()
        assert acted is not None and untouched is not None, "the generated source lacks the dossiers to test"
        assert acted.center_code is not None
        officer = principal(Role.CENTER_OFFICER, centers=[acted.center_code])
        settlement.act_on(
            s, acted.code, ActionIn(action="hand_back"), principal=officer, calendar=settlement.load_calendar(s)
        )
        s.commit()
        acted_code, untouched_code, due_here = acted.code, untouched.code, acted.due_at
    _change_in_source(out / "soctrang.db", [acted_code, untouched_code])
    service.run(engine, sources)
    with Session(engine) as s:
        mine = s.scalars(select(Dossier).where(Dossier.code == acted_code)).one()
        theirs = s.scalars(select(Dossier).where(Dossier.code == untouched_code)).one()
        assert mine.owned_here_at is not None
        assert (mine.status, mine.due_at) == (Status.FINISHED, due_here)  # the officer's work stands
        assert mine.needs_review and OWNED_HERE_REASON in (mine.review_reason or "")
        assert theirs.status == Status.IN_PROCESS and not theirs.needs_review  # not owned here: the source applies
    # The stewards' (and the center's) queue of flagged dossiers lists it.
    steward = principal(Role.DATA_STEWARD)
    with Session(engine) as s:
        flagged = queues.queue_page(
            s, steward, queues.Queue.FLAGGED, now=datetime.now(UTC), calendar=settlement.load_calendar(s)
        )
        assert acted_code in [r.code for r in flagged.rows] and untouched_code not in [r.code for r in flagged.rows]
