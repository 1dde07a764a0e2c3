"""The sync never reports a silent success: a known name pointed at another system is refused, a run that cannot
start ends failed with its reason, a record the store would refuse is quarantined and its source goes on, the later
copy of a transferred dossier wins whichever source is read first, an edit committed just before the cursor comes
in through the look-back window, and a record deleted at the source is reported extra."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.config import VN_TZ
from hopnhat.db import ensure_schema, make_engine
from hopnhat.errors import InvalidInput
from hopnhat.legacy import generate
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.models import QuarantinedRecord, SourceIdentity, SyncCursor, SyncRun
from hopnhat.sync.reconcile import reconcile
from tests.sync.helpers import config, identity_holds, store

runner = CliRunner()


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two data sets whose sources bear the same names (as two `legacy generate` runs write them)."""
    root = tmp_path_factory.mktemp("sets")
    generate(root / "a", dossiers=80, seed=3, fault_rate=0.0, sql="sqlite", xlsx=False)
    generate(root / "b", dossiers=80, seed=4, fault_rate=0.0, sql="sqlite", xlsx=False)
    return root / "a", root / "b"


def _files_and_sql(out: Path) -> dict[str, dict[str, Any]]:
    cfg = config(out)
    return {name: cfg[name] for name in ("haugiang", "soctrang")}


def test_a_known_name_pointed_at_another_system_is_refused_until_rebound(
    two_sets: tuple[Path, Path], store_url: str, tmp_path: Path
) -> None:
    a, b = two_sets
    engine = store(store_url)
    _, first = service.run(engine, _files_and_sql(a))
    assert all(r["state"] == "done" for r in first.values()), first
    with Session(engine) as session:
        kept = {i.source: i for i in session.scalars(select(SourceIdentity))}
    assert kept["haugiang"].location == f"{(a / 'haugiang').resolve()}/hoso_*.csv"
    assert kept["soctrang"].kind == "sql" and "tb_hoso" in kept["soctrang"].location
    assert len(kept["soctrang"].sample_ids) == service.SAMPLE_IDS

    _, second = service.run(engine, _files_and_sql(b))
    for name in ("haugiang", "soctrang"):
        assert second[name]["state"] == "failed", second[name]
        assert "give the other system a new name, or run with --full" in second[name]["error"]
        assert str(a) in second[name]["error"] and str(b) in second[name]["error"]
    with Session(engine) as session:
        run = session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(1)).one()
        assert run.state == "failed" and "new name" in (run.reason or "")
        assert session.scalar(select(Dossier.id).where(Dossier.source_name == "soctrang", Dossier.code.like("%"))) > 0

    # The CLI asks before --full binds the names to the new systems; --yes answers for a script.
    toml = tmp_path / "b.toml"
    toml.write_text((b / "sources.toml").read_text().split("[sources.cantho]")[0] + _tables(b))
    refused = runner.invoke(app, ["--db", store_url, "sync", "run", "-c", str(toml), "--full"], input="n\n")
    assert refused.exit_code != 0 and "haugiang" in refused.output
    done = runner.invoke(app, ["--db", store_url, "sync", "run", "-c", str(toml), "--full", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    assert all(c["inserted"] > 0 for c in json.loads(done.stdout).values())
    engine.dispose()


def _tables(out: Path) -> str:
    text = (out / "sources.toml").read_text()
    return text[text.index("[sources.haugiang]") :]


def test_another_system_behind_the_same_location_is_refused(two_sets: tuple[Path, Path], store_url: str) -> None:
    """The same folder now holding another system's exports: none of its first records is one the store loaded."""
    a, b = two_sets
    engine = store(store_url)
    cfg = {"haugiang": config(a)["haugiang"]}
    folder = Path(cfg["haugiang"]["path"])
    saved = {f.name: f.read_bytes() for f in folder.glob("hoso_*.csv")}
    service.run(engine, cfg)
    try:
        for f in folder.glob("hoso_*.csv"):
            f.unlink()
        for f in (b / "haugiang").glob("hoso_*.csv"):
            (folder / f.name).write_bytes(f.read_bytes())
        _, results = service.run(engine, cfg)
    finally:
        for f in folder.glob("hoso_*.csv"):
            f.unlink()
        for name, data in saved.items():
            (folder / name).write_bytes(data)
    assert results["haugiang"]["state"] == "failed"
    assert "looks like another system" in results["haugiang"]["error"]
    engine.dispose()


def test_a_failed_precondition_ends_the_run_failed_with_its_reason(two_sets: tuple[Path, Path], store_url: str) -> None:
    engine = make_engine(store_url)
    ensure_schema(engine)  # no registry loaded
    with pytest.raises(InvalidInput, match="registry is empty"):
        service.run(engine, _files_and_sql(two_sets[0]))
    with Session(engine) as session:
        run = session.scalars(select(SyncRun)).one()
    assert run.state == "failed" and "registry is empty" in (run.reason or "") and run.finished_at is not None
    engine.dispose()


def test_a_record_with_a_nul_byte_is_quarantined_and_its_source_goes_on(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=9, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = {"soctrang": config(out)["soctrang"]}
    with sqlite3.connect(str(cfg["soctrang"]["url"]).removeprefix("sqlite:///")) as db:
        (code,) = db.execute("SELECT ma_hs FROM tb_hoso ORDER BY id LIMIT 1").fetchone()
        db.execute("UPDATE tb_hoso SET ho_ten = 'Nguyễn' || char(0) || 'Văn A' WHERE ma_hs = ?", (code,))
        rows = db.execute("SELECT count(*) FROM tb_hoso").fetchone()[0]
    engine = store(store_url)
    _, results = service.run(engine, cfg)
    r = results["soctrang"]
    assert r["state"] == "done" and identity_holds(r) and r["extracted"] == rows
    with Session(engine) as session:
        held = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.source_id == code)).one()
        assert session.scalar(select(Dossier.id).where(Dossier.code == code)) is None
        loaded = len(session.scalars(select(Dossier.id)).all())
    assert held.reasons == ["NUL byte in applicant_name (the store refuses it)"]
    assert loaded == r["inserted"] > 0
    engine.dispose()


HEADER = "STT,Mã hồ sơ,Mã thủ tục,Thủ tục,Lĩnh vực,Người nộp,Số CCCD,Số điện thoại,Địa chỉ,Đối tượng,Hình thức nộp,"
HEADER += "Trạng thái,Ngày tiếp nhận,Ngày hẹn trả,Ngày trả,Đơn vị,Cập nhật lúc"


def _transferred(folder: Path, status: str, stamp: str) -> None:
    folder.mkdir(parents=True)
    row = (
        f"1,000.00.31.H28-250610-0001,1.001193,Đăng ký khai sinh,Hộ tịch,Lê Thị B,092000000001,0900000001,"
        f'Vị Thanh,Công dân,Trực tiếp,{status},10/06/2025,20/06/2025,,"P. I, TP. Vị Thanh",{stamp}'
    )
    (folder / "hoso_20250610.csv").write_text(f"\ufeff{HEADER}\r\n{row}\r\n", encoding="utf-8")


@pytest.mark.parametrize("order", [("early", "late"), ("late", "early")])
def test_the_later_copy_of_a_transferred_dossier_wins_whichever_source_is_read_first(
    tmp_path: Path, store_url: str, order: tuple[str, str]
) -> None:
    _transferred(tmp_path / "early", "Đang xử lý", "11/06/2025 09:00:00")
    _transferred(tmp_path / "late", "Đã xử lý xong", "12/06/2025 09:00:00")
    sources = {
        name: {"connector": "files", "province_code": "93", "path": str(tmp_path / name), "pattern": "hoso_*.csv"}
        for name in order
    }
    engine = store(store_url)
    _, results = service.run(engine, sources)
    assert all(r["state"] == "done" and r["quarantined"] == 0 for r in results.values()), results
    with Session(engine) as session:
        stored = session.execute(select(Dossier.status, Dossier.source_name)).one()
    assert tuple(stored) == (9, "late")
    engine.dispose()


def test_an_edit_committed_just_before_the_cursor_comes_in_through_the_look_back(
    tmp_path: Path, store_url: str
) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=13, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = {"soctrang": config(out, lookback_minutes=30)["soctrang"]}
    engine = store(store_url)
    service.run(engine, cfg)
    with Session(engine) as session:
        cursor = datetime.fromisoformat(session.get(SyncCursor, "soctrang").value)  # type: ignore[union-attr]
    late = (cursor - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(str(cfg["soctrang"]["url"]).removeprefix("sqlite:///")) as db:
        # A transaction that began before the last run's read and committed after it: its stamp is behind the cursor.
        (code,) = db.execute(
            "SELECT ma_hs FROM tb_hoso WHERE ngay_cap_nhat < ? ORDER BY id LIMIT 1", (late,)
        ).fetchone()
        db.execute("UPDATE tb_hoso SET ho_ten = 'Trần Văn Sửa', ngay_cap_nhat = ? WHERE ma_hs = ?", (late, code))
    _, results = service.run(engine, cfg)
    assert results["soctrang"]["updated"] == 1, results
    with Session(engine) as session:
        assert session.scalar(select(Dossier.applicant_name).where(Dossier.code == code)) == "Trần Văn Sửa"
    engine.dispose()


def test_a_record_deleted_at_the_source_is_reported_extra(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=17, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = {"soctrang": config(out)["soctrang"]}
    engine = store(store_url)
    service.run(engine, cfg)
    with sqlite3.connect(str(cfg["soctrang"]["url"]).removeprefix("sqlite:///")) as db:
        (code,) = db.execute("SELECT ma_hs FROM tb_hoso ORDER BY id DESC LIMIT 1").fetchone()
        db.execute("DELETE FROM tb_hoso WHERE ma_hs = ?", (code,))
    with Session(engine) as session:
        report = reconcile(session, cfg, datetime.now(VN_TZ).date())["soctrang"]
    assert report["extra_ids"] == [code] and report["missing_ids"] == [], report
    engine.dispose()


def _long_phone(tmp_path: Path, seed: int) -> tuple[dict[str, dict[str, Any]], str, int]:
    out = tmp_path / "legacy"
    generate(out, dossiers=40, seed=seed, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = {"soctrang": config(out)["soctrang"]}
    with sqlite3.connect(str(cfg["soctrang"]["url"]).removeprefix("sqlite:///")) as db:
        (code,) = db.execute("SELECT ma_hs FROM tb_hoso ORDER BY id LIMIT 1").fetchone()
        db.execute("UPDATE tb_hoso SET dien_thoai = '0900000000 / 0911111111 / 0922' WHERE ma_hs = ?", (code,))
        rows = db.execute("SELECT count(*) FROM tb_hoso").fetchone()[0]
    return cfg, code, rows


def test_a_value_wider_than_its_column_is_quarantined_with_the_reason(tmp_path: Path, store_url: str) -> None:
    cfg, code, _rows = _long_phone(tmp_path, 23)
    engine = store(store_url)
    _, results = service.run(engine, cfg)
    assert results["soctrang"]["state"] == "done" and results["soctrang"]["quarantined"] == 1
    with Session(engine) as session:
        held = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.source_id == code)).one()
    assert held.reasons == ["applicant_phone longer than 20 characters (the store refuses it)"]
    engine.dispose()


def test_a_record_the_store_refuses_unforeseen_is_quarantined_and_the_batch_goes_on(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the width check, PostgreSQL refuses the row: the batch is loaded again one record at a time."""
    from hopnhat.sync import engine as sync_engine

    monkeypatch.setitem(sync_engine._LENGTHS, "applicant_phone", 10_000)
    cfg, code, rows = _long_phone(tmp_path, 29)
    engine = store(store_url)
    _, results = service.run(engine, cfg)
    r = results["soctrang"]
    assert r["state"] == "done" and identity_holds(r) and r["extracted"] == rows, r
    with Session(engine) as session:
        held = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.source_id == code)).all()
        loaded = len(session.scalars(select(Dossier.id)).all())
    if engine.dialect.name == "postgresql":
        assert [q.reasons[0][:41] for q in held] == ["the store refused it: value too long for "]
        assert (r["quarantined"], loaded) == (1, rows - 1)
    else:  # SQLite keeps a text wider than its column: nothing to refuse
        assert (held, r["quarantined"], loaded) == ([], 0, rows)
    engine.dispose()
