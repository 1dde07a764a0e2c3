"""Reconciliation's fast path: a source record whose raw check still matches its stored copy is trusted without
being normalised again, and a change on either side (source record or stored copy) is still found."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.legacy import generate
from hopnhat.store.models import Dossier
from hopnhat.sync import repository as repo
from hopnhat.sync import service
from hopnhat.sync.models import SourceCopy
from hopnhat.sync.reconcile import reconcile
from tests.sync.helpers import config, store

SOURCE = "soctrang"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A fresh simulator per test: the tests edit Sóc Trăng's database (a SQLite file read by the ``sql`` source)."""
    out = tmp_path / "legacy"
    generate(out, dossiers=300, seed=11, fault_rate=0.1, sql="sqlite", xlsx=False)
    return out


def _synced(legacy: Path, store_url: str) -> tuple[Engine, dict[str, dict[str, Any]]]:
    cfg = {SOURCE: config(legacy)[SOURCE]}
    engine = store(store_url)
    _, results = service.run(engine, cfg)
    assert results[SOURCE]["state"] == "done"
    return engine, cfg


def _reconcile(engine: Engine, cfg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    with Session(engine) as session:
        report: dict[str, Any] = reconcile(session, cfg, datetime.now(VN_TZ).date())[SOURCE]
    assert "error" not in report, report
    return report


def _source_db(cfg: dict[str, dict[str, Any]]) -> sqlite3.Connection:
    return sqlite3.connect(str(cfg[SOURCE]["url"]).removeprefix("sqlite:///"))


def _loaded_code(engine: Engine) -> str:
    with Session(engine) as session:
        code = session.scalars(
            select(SourceCopy.source_id).where(SourceCopy.source == SOURCE).order_by(SourceCopy.source_id).limit(1)
        ).one()
    return code


def test_a_source_edit_the_mapping_ignores_is_not_a_change_but_a_mapped_edit_is(legacy: Path, store_url: str) -> None:
    engine, cfg = _synced(legacy, store_url)
    clean = _reconcile(engine, cfg)
    assert clean["missing"] == clean["extra"] == clean["changed"] == 0, clean
    # Only records without a stored copy (the quarantined ones) are normalised again.
    assert clean["rechecked"] < clean["source_rows"]
    quiet = _loaded_code(engine)
    with _source_db(cfg) as db:
        # Surrounding blanks are stripped by the normalisation: the raw record differs, the mapped fields do not.
        edited = db.execute("UPDATE tb_hoso SET ho_ten = ' ' || ho_ten || '  ' WHERE ma_hs = ?", (quiet,)).rowcount
    assert edited >= 1
    report = _reconcile(engine, cfg)
    # The edited rows (a source may hold a record twice) missed their check and were normalised again.
    assert report["rechecked"] == clean["rechecked"] + edited
    assert report["changed"] == 0 and quiet not in report["changed_ids"], report
    with Session(engine) as session:
        loud = session.scalars(
            select(SourceCopy.source_id).where(SourceCopy.source == SOURCE, SourceCopy.source_id != quiet).limit(1)
        ).one()
    with _source_db(cfg) as db:
        assert db.execute("UPDATE tb_hoso SET ho_ten = ho_ten || ' Văn' WHERE ma_hs = ?", (loud,)).rowcount
    report = _reconcile(engine, cfg)
    assert report["changed"] == 1 and report["changed_ids"] == [loud], report
    engine.dispose()


def test_a_changed_store_row_is_reported(legacy: Path, store_url: str) -> None:
    engine, cfg = _synced(legacy, store_url)
    clean = _reconcile(engine, cfg)
    assert clean["changed"] == 0, clean
    with Session(engine) as session:
        first, second = session.scalars(
            select(SourceCopy.source_id).where(SourceCopy.source == SOURCE).order_by(SourceCopy.source_id).limit(2)
        ).all()
        # The stored mapped hash of one copy, and only the status of another (its hash left as loaded).
        session.execute(
            update(SourceCopy)
            .where(SourceCopy.source == SOURCE, SourceCopy.source_id == first)
            .values(row_hash="0" * 64)
        )
        status = session.scalar(
            select(SourceCopy.status).where(SourceCopy.source == SOURCE, SourceCopy.source_id == second)
        )
        other = 1 if status != 1 else 2
        session.execute(
            update(SourceCopy).where(SourceCopy.source == SOURCE, SourceCopy.source_id == second).values(status=other)
        )
        session.commit()
    report = _reconcile(engine, cfg)
    assert report["changed_ids"] == [first], report
    assert report["rechecked"] == clean["rechecked"] + 2
    # The source's own status of the second record is counted, not the tampered stored one.
    assert report["by_status"][str(other)]["store"] == report["by_status"][str(other)]["source"] + 1
    assert report["by_status"][str(status)]["store"] == report["by_status"][str(status)]["source"] - 1
    engine.dispose()


def test_deep_reconciliation_normalises_every_record_and_agrees(legacy: Path, store_url: str) -> None:
    engine, cfg = _synced(legacy, store_url)
    fast = _reconcile(engine, cfg)
    with Session(engine) as session:
        deep: dict[str, Any] = reconcile(session, cfg, datetime.now(VN_TZ).date(), deep=True)[SOURCE]
    # Every source record went through the normalisation again, and the verdict is the fast path's.
    assert deep["rechecked"] > fast["rechecked"]
    assert deep["rechecked"] >= deep["source_rows"]
    for key in ("source_rows", "store_rows", "missing", "extra", "changed", "by_status", "by_unit", "by_month"):
        assert deep[key] == fast[key], key
    engine.dispose()


def test_a_record_broken_at_the_source_is_extra_and_a_deleted_dossier_missing(legacy: Path, store_url: str) -> None:
    engine, cfg = _synced(legacy, store_url)
    clean = _reconcile(engine, cfg)
    with Session(engine) as session:
        broken, gone = session.scalars(
            select(SourceCopy.source_id).where(SourceCopy.source == SOURCE).order_by(SourceCopy.source_id).limit(2)
        ).all()
        status = session.scalar(
            select(SourceCopy.status).where(SourceCopy.source == SOURCE, SourceCopy.source_id == broken)
        )
        session.execute(delete(Dossier).where(Dossier.code == gone))
        session.commit()
    with _source_db(cfg) as db:
        # A required field emptied after the load: the sync would quarantine the record now.
        assert db.execute("UPDATE tb_hoso SET ma_tthc = NULL WHERE ma_hs = ?", (broken,)).rowcount >= 1
    report = _reconcile(engine, cfg)
    assert report["extra_ids"] == [broken] and report["missing_ids"] == [gone], report
    assert report["changed"] == 0
    assert report["source_rows"] == clean["source_rows"] - 1 and report["store_rows"] == clean["store_rows"]
    counted = report["by_status"][str(status)]
    assert counted["store"] == counted["source"] + 1  # its copy still counts in the store, the source has none
    with Session(engine) as session:
        deep: dict[str, Any] = reconcile(session, cfg, datetime.now(VN_TZ).date(), deep=True)[SOURCE]
    for key in ("missing_ids", "extra_ids", "changed_ids", "source_rows", "by_status", "by_unit", "by_month"):
        assert deep[key] == report[key], key  # the fast path's counts agree with normalising every record
    engine.dispose()


def test_reading_the_source_in_small_chunks_agrees_with_reading_it_whole(legacy: Path, store_url: str) -> None:
    """Reconciliation checks a source chunk by chunk. An id repeated across chunks still resolves to its latest
    copy: here an older, different row of a loaded dossier is added to the source after the sync (an edit history
    kept in the table); it sorts chunks before the row the store holds, and must not be reported as a change."""
    engine, cfg = _synced(legacy, store_url)
    code = _loaded_code(engine)
    source = _source_db(cfg)
    try:
        columns = [row[1] for row in source.execute("PRAGMA table_info(tb_hoso)") if row[1] != "id"]
        picked = ", ".join("'0900000000'" if c == "dien_thoai" else c for c in columns)
        source.execute(
            f"INSERT INTO tb_hoso ({', '.join(columns)}) SELECT {picked} FROM tb_hoso WHERE ma_hs = ?", (code,)
        )
        source.execute(
            "UPDATE tb_hoso SET ngay_cap_nhat = '2022-01-01 00:00:00' WHERE id = (SELECT max(id) FROM tb_hoso)"
        )
        source.commit()
    finally:
        source.close()
    whole = {SOURCE: {**cfg[SOURCE], "batch_size": 100_000}}
    small = {SOURCE: {**cfg[SOURCE], "batch_size": 7}}
    one = _reconcile(engine, whole)
    chunked = _reconcile(engine, small)
    assert (one["missing"], one["extra"], one["changed"]) == (0, 0, 0)
    assert chunked == one


def test_a_small_source_reads_its_copies_through_the_index_and_finds_the_same(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copies of a source that holds a small share of the copy table are read through the (source, source_id)
    index on SQLite, those of a large one by reading the whole table: both ways give exactly the source's copies,
    whatever the source is called (a ``%`` or a quote in the name is bound, not inlined)."""
    big, small_name = "big 100%", "o'small_%"
    engine = store(store_url)
    with Session(engine) as session:
        for source, n in ((big, 90), (small_name, 10)):
            session.add_all(
                SourceCopy(
                    source=source,
                    source_id=f"{source[:3]}-{i}",
                    dossier_code=f"{source[:3]}-{i}",
                    row_hash=f"h{i}",
                    raw_hash=None if i == 3 else f"r{i}",
                    status=i % 10 + 1,
                    unit_code=f"{i % 4:05d}",
                    received_month="2024-0" + str(i % 9 + 1),
                )
                for i in range(n)
            )
        session.commit()
        queries: list[str] = []
        column_rows = repo._column_rows

        def recorded(s: Session, query: Any) -> Any:
            queries.append(str(query))
            return column_rows(s, query)

        monkeypatch.setattr(repo, "_column_rows", recorded)
        small = repo.copy_checks(session, small_name)
        large = repo.copy_checks(session, big)
        if engine.dialect.name == "sqlite":
            assert "IN (SELECT" in queries[0] and "||" not in queries[0]  # the small source: through the index
            assert "||" in queries[1]  # the large one: the whole table
        monkeypatch.setattr(repo, "INDEXED_SHARE", 0.0)  # every source reads the whole table
        assert repo.copy_checks(session, small_name) == small
        monkeypatch.setattr(repo, "INDEXED_SHARE", 2.0)  # every source goes through the index
        assert repo.copy_checks(session, big) == large
    assert sorted(small) == sorted(f"o's-{i}" for i in range(10))
    assert small["o's-3"] == ("o's-3", None, "h3", 4, "00003", "2024-04")
    assert sorted(large) == sorted(f"big-{i}" for i in range(90))


def test_copies_without_a_dossier_are_found_per_source_in_one_query(store_url: str) -> None:
    """One query answers for several sources at once, each source's ids under its own name, whatever the names
    hold (bound, not inlined), and an empty set for a source without copies."""
    names = ("big 100%", "o'small_%", "absent")
    engine = store(store_url)
    with Session(engine) as session:
        session.add_all(
            SourceCopy(source=source, source_id=f"{source[:3]}-{i}", dossier_code=f"{source[:3]}-{i}", row_hash="h")
            for source, n in ((names[0], 5), (names[1], 3))
            for i in range(n)
        )
        session.commit()
        found = repo.copies_without_dossier(session, names)
        # No dossier was stored: every copy has lost its dossier.
        assert found == {
            names[0]: {f"big-{i}" for i in range(5)},
            names[1]: {"o's-0", "o's-1", "o's-2"},
            "absent": set(),
        }
        assert repo.copies_without_dossier(session, [names[1]]) == {names[1]: found[names[1]]}
    engine.dispose()


def test_reconciling_several_sources_asks_once_which_dossiers_are_gone(
    legacy: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copies whose dossier is gone are asked for once for all the sources, not once per source (each pass
    reads every dossier code), in one process or forked, and the report still names the deleted dossier."""
    cfg = {name: options for name, options in config(legacy).items() if name != "cantho"}  # no server thread
    engine = store(store_url)
    service.run(engine, cfg)
    gone = _loaded_code(engine)
    with Session(engine) as session:
        session.execute(delete(Dossier).where(Dossier.code == gone))
        session.commit()
    asked: list[list[str]] = []
    real = repo.copies_without_dossier

    def once(session: Session, sources: Any) -> dict[str, set[str]]:
        names = list(sources)
        if len(names) == 1:
            raise AssertionError(f"asked again for {names[0]} alone")  # surfaces as that source's error
        asked.append(names)
        return real(session, names)

    monkeypatch.setattr(repo, "copies_without_dossier", once)
    for jobs in (1, 2):
        with Session(engine) as session:
            report = reconcile(session, cfg, datetime.now(VN_TZ).date(), jobs=jobs)
        assert all("error" not in r for r in report.values()), report
        assert report[SOURCE]["missing_ids"] == [gone] and report["haugiang"]["missing"] == 0
    assert asked == [list(cfg), list(cfg)]
    engine.dispose()
