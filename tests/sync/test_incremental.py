"""Incremental sync: a tick then a sync brings exactly the changes; two processes never sync the same source."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.legacy import generate, serve_in_thread, tick
from hopnhat.legacy.catalog import SOURCES
from hopnhat.store.models import Dossier
from hopnhat.sync import repository, service
from hopnhat.sync.engine import COUNT_KEYS, CURSOR_VERSION
from hopnhat.sync.models import QuarantinedRecord, SourceCopy, SyncCursor
from hopnhat.sync.reconcile import reconcile
from tests.sync.helpers import config, identity_holds, snapshot, store

runner = CliRunner()


def _cli(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_tick_then_sync_brings_exactly_the_changes(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=200, seed=5, fault_rate=0.0, sql="sqlite", xlsx=False)
    engine = store(store_url)
    cfg = str(out / "sources.toml")
    with serve_in_thread(out):
        _cli("--db", store_url, "sync", "run", "--config", cfg, "--json")
        before = {row[0]: row for row in snapshot(engine)["dossiers"]}
        rates = ("--new-per-hour", "3", "--corrections-per-hour", "2")
        report = _cli("legacy", "tick", str(out), "--minutes", "240", *rates, "--json")
        results = _cli("--db", store_url, "sync", "run", "--config", cfg, "--json")
    after = {row[0]: row for row in snapshot(engine)["dossiers"]}
    touched = sum(report[k][s] for k in ("new", "changed", "corrected") for s in SOURCES)
    assert touched and sum(report["new"].values()), "the tick changed nothing: the test would prove nothing"
    for source in SOURCES:
        r = results[source]
        assert set(r) == set(COUNT_KEYS)
        assert identity_holds(r), (source, r)
        # Exactly what the tick reported: its new dossiers inserted, its status changes and corrections updated.
        assert r["inserted"] == report["new"][source], (source, r, report)
        assert r["updated"] == report["changed"][source] + report["corrected"][source], (source, r, report)
        assert r["quarantined"] == r["duplicates"] == 0, (source, r)
    differs = {code for code, row in after.items() if before.get(code) != row}
    assert len(differs) == touched
    assert set(before) <= set(after)
    # Only the look-back window was re-read, not the whole history.
    assert sum(r["extracted"] for r in results.values()) < len(before) / 2
    engine.dispose()


def test_lock_keeps_a_second_process_off_the_source(store_url: str) -> None:
    engine = store(store_url)
    now = utcnow()
    with Session(engine) as a, Session(engine) as b:
        assert repository.try_lock(a, "cantho", "worker-a", now, now + timedelta(minutes=5))
        a.commit()
        assert not repository.try_lock(b, "cantho", "worker-b", now, now + timedelta(minutes=5))
        b.commit()
        assert repository.try_lock(b, "soctrang", "worker-b", now, now + timedelta(minutes=5))
        # An expired lock (its owner died) is taken over.
        later = now + timedelta(minutes=6)
        assert repository.try_lock(b, "cantho", "worker-b", later, later + timedelta(minutes=5))
        b.commit()
    engine.dispose()


def test_corrected_source_rows_resolve_their_quarantine(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=200, seed=6, fault_rate=0.3, sql="sqlite", xlsx=False)
    engine = store(store_url)
    with serve_in_thread(out):
        service.run(engine, config(out))
        report = tick(out, minutes=600, new_per_hour=0, corrections_per_hour=30)
        _, results = service.run(engine, config(out))
    assert all(identity_holds(r) for r in results.values())
    with Session(engine) as session:
        states = {(q.source, q.source_id): q.state for q in session.scalars(select(QuarantinedRecord))}
    repaired = {(source, code) for source, codes in report.repaired.items() for code in codes}
    repaired_held = {key for key in repaired if key in states}
    assert repaired_held, "no quarantined record was repaired: the test would prove nothing"
    assert all(states[key] == "resolved" for key in repaired_held)
    assert any(state == "open" for state in states.values())
    engine.dispose()


def test_a_large_load_refreshes_the_planner_statistics_on_postgresql(tmp_path: Path, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite's lookups do not depend on statistics")
    out = tmp_path / "legacy"
    generate(out, dossiers=120, seed=8, fault_rate=0.0, sql="sqlite", xlsx=False)
    engine = store(store_url)

    def planner_rows() -> dict[str, float]:
        with Session(engine) as session:
            rows = session.execute(
                text("SELECT relname, reltuples FROM pg_class WHERE relname IN ('store_dossier', 'sync_source_copy')")
            )
            return {name: float(n) for name, n in rows}

    assert all(n <= 0 for n in planner_rows().values())  # never analysed: the planner thinks the tables empty
    with serve_in_thread(out):
        _, results = service.run(engine, config(out))
    loaded = sum(r["inserted"] for r in results.values())
    assert loaded > 100
    assert planner_rows()["store_dossier"] == loaded  # ANALYZE ran at the end of the run (small tables: exact)
    assert not service.refresh_statistics(engine, written=loaded // 20)  # a small run leaves them be
    assert service.refresh_statistics(engine, written=loaded // 5)
    engine.dispose()


def test_a_store_hashed_by_an_older_engine_is_read_whole_once_and_reconciles_clean(
    tmp_path: Path, store_url: str
) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=150, seed=12, fault_rate=0.0, sql="sqlite", xlsx=False)
    engine = store(store_url)
    with serve_in_thread(out):
        service.run(engine, config(out))
        # What an engine that hashed differently leaves: other mapped hashes and raw checks, an older cursor version.
        with Session(engine) as session:
            session.execute(update(SourceCopy).values(row_hash="0" * 32, raw_hash="0" * 32))
            session.execute(update(Dossier).values(row_hash="0" * 32))
            session.execute(update(SyncCursor).values(version=CURSOR_VERSION - 1))
            session.commit()
        _, results = service.run(engine, config(out))
        assert all(identity_holds(r) for r in results.values())
        assert all(r["updated"] > 0 and r["updated"] + r["duplicates"] == r["extracted"] for r in results.values())
        with Session(engine) as session:
            report = reconcile(session, config(out), datetime.now(VN_TZ).date())
    assert all(r["missing"] == r["extra"] == r["changed"] == 0 for r in report.values()), report
    engine.dispose()


def test_an_updated_dossier_reads_back_as_a_fresh_load_of_its_source(tmp_path: Path, store_url: str) -> None:
    """Updates leave unchanged indexed columns out of their SET: a changed receipt time and a stored province that
    no longer matches its source must still be written, and the row must read back as a fresh load gives it."""
    out = tmp_path / "legacy"
    generate(out, dossiers=120, seed=21, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = {"soctrang": config(out)["soctrang"]}
    engine = store(store_url)
    service.run(engine, cfg)
    source = create_engine(cfg["soctrang"]["url"])
    with source.begin() as conn:
        moved, other, untouched = conn.execute(text("SELECT ma_hs FROM tb_hoso ORDER BY id LIMIT 3")).scalars()
        received = conn.execute(text("SELECT ngay_nhan FROM tb_hoso WHERE ma_hs = :id"), {"id": moved}).scalar_one()
        earlier = datetime.fromisoformat(received) - timedelta(hours=1, seconds=7)
        later = "2025-07-02 08:00:00"
        # A correction of the receipt time, and a status change of another dossier.
        conn.execute(
            text("UPDATE tb_hoso SET ngay_nhan = :r, ngay_cap_nhat = :t WHERE ma_hs = :id"),
            {"r": earlier.isoformat(" "), "t": later, "id": moved},
        )
        conn.execute(
            text(
                "UPDATE tb_hoso SET trang_thai = CASE trang_thai WHEN 1 THEN 8 ELSE 1 END, ngay_tra = NULL,"
                " ngay_cap_nhat = :t WHERE ma_hs = :id"
            ),
            {"t": later, "id": other},
        )
    source.dispose()
    with Session(engine) as session:  # a stored province that is not the source's any more
        session.execute(update(Dossier).where(Dossier.code == other).values(province_code="93"))
        session.commit()
    counts = service.run(engine, cfg)[1]["soctrang"]
    assert counts["updated"] == 2, counts
    fresh = store(f"sqlite:///{tmp_path / 'fresh.db'}")
    service.run(fresh, cfg)

    def rows(e: Engine) -> dict[str, tuple[Any, ...]]:
        columns = (Dossier.code, Dossier.province_code, Dossier.received_at, Dossier.status, Dossier.row_hash)
        with Session(e) as session:
            return {r[0]: tuple(r) for r in session.execute(select(*columns).where(Dossier.code.in_([moved, other])))}

    got = rows(engine)
    assert got == rows(fresh)
    assert got[moved][2] == earlier.replace(tzinfo=VN_TZ)
    assert got[other][1] == "92"  # the province that serves it now; the former one has its own column
    with Session(engine) as session:
        assert session.scalar(select(Dossier.former_province_code).where(Dossier.code == other)) == "94"
    with Session(engine) as session:
        copies = dict(session.execute(select(SourceCopy.source_id, SourceCopy.dossier_code)).all())
    assert copies[moved] == moved and copies[untouched] == untouched
    engine.dispose()
    fresh.dispose()


def test_a_copy_follows_its_source_row_to_a_new_dossier_code(tmp_path: Path, store_url: str) -> None:
    """A source keyed by its own row id can change a row's dossier code: the copy's update leaves its key (source,
    source id) out of the SET, but must write the new code."""
    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=22, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = {"soctrang": config(out, id_column="id")["soctrang"]}
    engine = store(store_url)
    service.run(engine, cfg)
    source = create_engine(cfg["soctrang"]["url"])
    with source.begin() as conn:
        row_id, code = conn.execute(text("SELECT id, ma_hs FROM tb_hoso ORDER BY id LIMIT 1")).one()
        renamed = f"{code}-R"
        conn.execute(
            text("UPDATE tb_hoso SET ma_hs = :code, ngay_cap_nhat = '2025-07-02 08:00:00' WHERE id = :id"),
            {"code": renamed, "id": row_id},
        )
    source.dispose()
    service.run(engine, cfg)
    with Session(engine) as session:
        copy = session.execute(
            select(SourceCopy.dossier_code).where(SourceCopy.source == "soctrang", SourceCopy.source_id == str(row_id))
        ).scalar_one()
        stored = set(session.execute(select(Dossier.code)).scalars())
    engine.dispose()
    assert copy == renamed
    assert renamed in stored
