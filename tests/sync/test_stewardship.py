"""The data stewards' work, on SQLite and PostgreSQL: a correction loads the dossier and survives the next sync of
the unchanged record, a changed record wins and is flagged; a unit picked for a split commune survives the next
sync; a dismissal needs a second person; every action is in the audit log with its principal."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.errors import Forbidden, InvalidInput
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.roles import Role
from hopnhat.legacy import generate
from hopnhat.store.models import Dossier
from hopnhat.sync import service, steward_repo, stewardship
from hopnhat.sync.load import CHOICE_GONE_REASON
from hopnhat.sync.models import Correction, QuarantinedRecord, UnitChoice
from hopnhat.sync.normalise import SUPERSEDED_REASON
from hopnhat.sync.stewardship import Mapper, Rule, Selection
from tests.identity_support import bearer, principal, token_for
from tests.sync.helpers import config, store

SPLIT = "31178"
"""Phường Bùi Hữu Nghĩa: split into 31120 and 31168 on 1 July 2025, with no routing rule."""
IN_PROCESS_IN_SOURCE = 2


@dataclass
class Site:
    engine: Engine
    out: Path
    sources: dict[str, dict[str, Any]]

    def sync(self, *, full: bool = True) -> dict[str, Any]:
        """A full sync reads the unchanged records again too; an incremental one, those stamped lately."""
        result: dict[str, Any] = service.run(self.engine, self.sources, full=full)[1]["soctrang"]
        assert result["state"] == "done", result
        return result

    def mapper(self, session: Session) -> Mapper:
        return Mapper(session, self.sources, datetime.now(UTC).date())

    def source(self, sql: str, *args: Any) -> None:
        """Change the former system's records, stamped later than anything synced (a real edit there)."""
        with sqlite3.connect(self.out / "soctrang.db") as conn:
            latest = conn.execute("SELECT max(ngay_cap_nhat) FROM tb_hoso").fetchone()[0]
            later = (datetime.fromisoformat(str(latest)) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
            conn.execute(sql.replace(":later", f"'{later}'"), args)


@pytest.fixture
def site(tmp_path: Path, store_url: str) -> Iterator[Site]:
    out = tmp_path / "legacy"
    # 200 dossiers at a 5 % fault rate: six of Sóc Trăng's records are quarantined (three without a procedure code).
    generate(out, dossiers=200, seed=7, fault_rate=0.05, sql="sqlite", xlsx=False)
    with sqlite3.connect(out / "soctrang.db") as conn:
        # One open dossier of a commune that was split: its unit needs a steward.
        conn.execute(
            "UPDATE tb_hoso SET ma_xa = ?, trang_thai = ? WHERE id = (SELECT min(id) FROM tb_hoso WHERE ngay_nhan"
            " IS NOT NULL AND ma_tthc IS NOT NULL AND ho_ten NOT LIKE '%Ã%')",
            (SPLIT, IN_PROCESS_IN_SOURCE),
        )
    engine = store(store_url)
    site = Site(engine, out, service.pick(config(out), "soctrang"))
    site.sync()
    yield site
    engine.dispose()


def _quarantined(session: Session, reason: str) -> list[QuarantinedRecord]:
    rows = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.state == "open")).all()
    return sorted((q for q in rows if any(reason in r for r in q.reasons)), key=lambda q: q.id)


def _dossier(session: Session, code: str) -> Dossier:
    return session.scalars(select(Dossier).where(Dossier.code == code)).one()


def _audit(session: Session, action: str) -> list[tuple[str | None, str | None]]:
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
    return [(r.actor, r.object_id) for r in rows]


def test_the_stewards_work_holds_across_syncs(site: Site) -> None:
    """One store per backend for every step (a store with the registry and a first sync costs most of the time)."""
    dismissed = _dismissal_needs_a_second_steward(site)
    _correction_survives_the_unchanged_record_and_a_changed_record_wins_flagged(site, dismissed)
    _unit_picked_for_a_split_commune_survives_the_next_sync(site)
    _bulk_rule_is_previewed_then_applied(site)
    _the_api_dismisses_with_two_stewards(site)


def _correction_survives_the_unchanged_record_and_a_changed_record_wins_flagged(site: Site, dismissed: int) -> None:
    steward = principal(Role.DATA_STEWARD, username="steward-a")
    with Session(site.engine) as s:
        missing = _quarantined(s, "missing procedure code")
        assert len(missing) >= 2, "the generated source lacks the records to test"
        kept, fixed_there = missing[0], missing[1]
        mapper = site.mapper(s)
        with pytest.raises(InvalidInput, match="would still be quarantined"):
            stewardship.correct(s, steward, mapper, kept.id, {"procedure_code": None})
        for q in (kept, fixed_there):
            stewardship.correct(s, steward, mapper, q.id, {"procedure_code": "1.001193"})
        s.commit()
        ids = {q.id: q.source_id for q in (kept, fixed_there)}
        assert {q.state for q in (kept, fixed_there)} == {"resolved"}
        assert _dossier(s, kept.source_id).procedure_code == "1.001193"
        assert sorted(_audit(s, "steward.correct")) == sorted(("steward-a", str(i)) for i in ids)

    counts = site.sync()  # the source sends both records unchanged: the corrections apply, the dismissal holds
    assert counts["inserted"] == counts["updated"] == 0
    with Session(site.engine) as s:
        d = _dossier(s, kept.source_id)
        assert (d.procedure_code, d.needs_review) == ("1.001193", False)
        assert s.get(QuarantinedRecord, kept.id).state == "resolved"  # type: ignore[union-attr]
        assert {c.state for c in s.scalars(select(Correction))} == {"active"}
        assert s.get(QuarantinedRecord, dismissed).state == "dismissed"  # type: ignore[union-attr]

    # The former system changes both: one still without a code (the record wins: quarantined again, flagged), the
    # other given its own code (the record wins: loaded with the source's code, flagged for review).
    site.source("UPDATE tb_hoso SET dien_thoai = '0900000000', ngay_cap_nhat = :later WHERE ma_hs = ?", kept.source_id)
    site.source(
        "UPDATE tb_hoso SET ma_tthc = '2.000001', ngay_cap_nhat = :later WHERE ma_hs = ?", fixed_there.source_id
    )
    site.sync(full=False)
    with Session(site.engine) as s:
        again = s.get(QuarantinedRecord, kept.id)
        assert again is not None and again.state == "open" and SUPERSEDED_REASON in again.reasons
        theirs = _dossier(s, fixed_there.source_id)
        assert theirs.procedure_code == "2.000001"
        assert theirs.needs_review and SUPERSEDED_REASON in (theirs.review_reason or "")
        assert {c.state for c in s.scalars(select(Correction))} == {"superseded"}
        left = {r.source: r for r in stewardship.left(s)}["soctrang"]
        assert left.corrections_superseded == 2 and left.quarantined >= 1


def _unit_picked_for_a_split_commune_survives_the_next_sync(site: Site) -> None:
    steward = principal(Role.DATA_STEWARD, username="steward-u")
    with Session(site.engine) as s:
        mapper = site.mapper(s)
        queue = stewardship.review_queue(s, steward, mapper.remapper, "soctrang")
        item = next(i for i in queue if i.original_unit_code == SPLIT)
        assert item.needs_unit and [c for c, _ in item.candidates] == ["31120", "31168"]
        assert {r.source: r for r in stewardship.left(s)}["soctrang"].without_unit == 1
        with pytest.raises(InvalidInput, match="not among"):
            stewardship.pick_unit(s, steward, mapper.remapper, item.code, "31150")
        stewardship.pick_unit(s, steward, mapper.remapper, item.code, "31168")
        s.commit()
        assert _audit(s, "steward.unit") == [("steward-u", item.code)]

    site.sync()  # unchanged
    with Session(site.engine) as s:
        d = _dossier(s, item.code)
        assert (d.unit_code, d.needs_review) == ("31168", False)
    # The former system changes another field: the record is written again, the choice with it.
    site.source("UPDATE tb_hoso SET dien_thoai = '0900000001', ngay_cap_nhat = :later WHERE ma_hs = ?", item.code)
    site.sync(full=False)
    with Session(site.engine) as s:
        d = _dossier(s, item.code)
        assert (d.unit_code, d.needs_review) == ("31168", False)
        assert steward_repo.left_counts(s).get("soctrang", {}).get("without_unit", 0) == 0
    # It changes the unit itself: the source wins, the choice goes, the dossier is flagged.
    site.source("UPDATE tb_hoso SET ma_xa = '31183', ngay_cap_nhat = :later WHERE ma_hs = ?", item.code)
    site.sync(full=False)
    with Session(site.engine) as s:
        d = _dossier(s, item.code)
        assert d.original_unit_code == "31183" and d.unit_code is None
        assert d.needs_review and CHOICE_GONE_REASON in (d.review_reason or "")
        assert s.get(UnitChoice, item.code).state == "superseded"  # type: ignore[union-attr]


def _dismissal_needs_a_second_steward(site: Site) -> int:
    first = principal(Role.DATA_STEWARD, username="steward-1")
    second = principal(Role.DATA_STEWARD, username="steward-2")
    auditor = principal(Role.AUDITOR, username="auditor-1")
    with Session(site.engine) as s:
        q = _quarantined(s, "wrong encoding")[0]
        with pytest.raises(InvalidInput, match="names the dossier code"):
            stewardship.propose_dismissal(s, first, q.id, "duplicate")
        with pytest.raises(InvalidInput, match="one of"):
            stewardship.propose_dismissal(s, first, q.id, "bored")
        proposal = stewardship.propose_dismissal(s, first, q.id, "test_record", note="a test entry")
        with pytest.raises(Forbidden, match="second person"):
            stewardship.approve(s, first, proposal.id)
        with pytest.raises(Forbidden):
            stewardship.approve(s, auditor, proposal.id)
        assert q.state == "open"
        stewardship.approve(s, second, proposal.id)
        s.commit()
        assert q.state == "dismissed"
        assert _audit(s, "steward.dismiss.propose") == [("steward-1", str(q.id))]
        assert _audit(s, "steward.dismiss.approve") == [("steward-2", str(q.id))]
    return q.id


def _bulk_rule_is_previewed_then_applied(site: Site) -> None:
    steward = principal(Role.DATA_STEWARD, username="steward-b")
    selection = Selection("soctrang", "missing procedure code")
    rule = Rule("set", "procedure_code", "1.001193")
    with Session(site.engine) as s:
        mapper = site.mapper(s)
        shown = stewardship.preview(s, steward, mapper, selection, rule)
        assert len(shown) >= 2 and all(o.loads and o.before is None and o.after == "1.001193" for o in shown)
        assert all(q.state == "open" for q in _quarantined(s, "missing procedure code"))  # a preview changes nothing
        done = stewardship.apply_rule(s, steward, mapper, selection, rule)
        s.commit()
        assert len(done) == len(shown) and _quarantined(s, "missing procedure code") == []
        assert len(_audit(s, "steward.bulk.correct")) == len(shown)
        assert _audit(s, "steward.bulk.preview") == [("steward-b", "soctrang")]


def _the_api_dismisses_with_two_stewards(site: Site) -> None:
    from fastapi.testclient import TestClient

    from hopnhat.app import create_app
    from hopnhat.config import Settings

    client = TestClient(create_app(Settings(database_url=site.engine.url.render_as_string(False)), site.engine))
    first = bearer(token_for(site.engine, Role.DATA_STEWARD, scopes="write"))
    second = bearer(token_for(site.engine, Role.DATA_STEWARD, scopes="write"))
    with Session(site.engine) as s:
        q = _quarantined(s, "wrong encoding")[0]
    proposed = client.post(f"/api/v1/sync/quarantine/{q.id}/dismissals", json={"reason": "withdrawn"}, headers=first)
    assert proposed.status_code == 201, proposed.text
    number = proposed.json()["id"]
    assert client.post(f"/api/v1/sync/dismissals/{number}/approve", headers=first).status_code == 403
    approved = client.post(f"/api/v1/sync/dismissals/{number}/approve", headers=second)
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    left = client.get("/api/v1/sync/steward/left", headers=first).json()
    assert [r["source"] for r in left] == ["soctrang"]
    dismissed = client.get("/api/v1/sync/quarantine?state=dismissed", headers=first).json()
    assert q.id in [r["id"] for r in dismissed]
