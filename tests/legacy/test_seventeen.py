"""The seventeen systems of the catalogue, each read by the mapping written next to its data and nothing else: synced,
reconciled clean, every fault of the manifest quarantined for its reason; a sample on PostgreSQL; a sync process
killed mid-run and resumed gives the store an uninterrupted run gives. One generated set serves the module."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import hopnhat
from hopnhat.legacy import cleanup, generate, serve_in_thread
from hopnhat.legacy.sector import bundled, mapping_of
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.models import QuarantinedRecord, SyncCursor, SyncRun
from hopnhat.sync.reconcile import reconcile
from tests.sync.helpers import config, dossier_digest, expected, identity_holds, manifest, snapshot, store, sync_process

CATALOGUE = bundled()
SYSTEMS = [s.name for s in CATALOGUE.systems]
DESCRIBED = [s for s in CATALOGUE.systems if not s.builtin]
TODAY = date(2025, 7, 1)
MISSING = {"procedure_code": "missing procedure code", "received_at": "missing receipt date", "unit": "missing unit"}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("seventeen")
    generate(out, dossiers=1000, seed=19, fault_rate=0.15, sql="auto", xlsx=False, systems="all")
    try:
        with serve_in_thread(out):
            yield out
    finally:
        cleanup(out)


@pytest.fixture(scope="module")
def synced(legacy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """All seventeen synced once into one SQLite store, with the sync's counts and the reconciliation of each (one
    call: the registry's remapper is built once)."""
    engine = store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
    _, results = service.run(engine, config(legacy))
    with Session(engine) as session:
        report = reconcile(session, config(legacy), TODAY)
    yield engine, {name: {**counts, "reconciled": report[name]} for name, counts in results.items()}
    engine.dispose()


def test_the_catalogue_has_the_variety_the_city_has() -> None:
    systems = CATALOGUE.systems
    assert len(systems) == 17 and sum(s.kind == "one-stop" for s in systems) == 3
    assert {s.province for s in systems} == {"92", "93", "94"}
    assert abs(sum(s.share for s in systems) - 1) < 1e-9
    assert len({s.vocabulary for s in DESCRIBED}) >= 6
    http = [s for s in DESCRIBED if s.interface == "http_api"]
    assert {s.options["pagination"] for s in http} == {"page", "offset", "cursor", "link_header"}
    assert {s.options["auth"] for s in http} == {"api_key", "oauth2"}
    assert {s.options.get("backend") for s in DESCRIBED if s.interface == "sql"} == {"sqlite", "mariadb", "postgresql"}
    files = [s for s in DESCRIBED if s.interface == "files"]
    assert {s.options.get("format", "csv") for s in files} == {"csv", "xlsx"}
    assert any(s.options.get("banner") for s in files)
    assert any(CATALOGUE.vocabularies[s.vocabulary].dates == "excel" for s in files if s.options.get("format"))
    assert {s.options["encoding"] for s in files if "encoding" in s.options} >= {"utf-16", "cp1258", "utf-8-sig"}


def test_no_system_has_code_of_its_own() -> None:
    """Onboarded by its mapping alone: no module of hopnhat names a described system."""
    package = Path(hopnhat.__file__).parent
    source = "\n".join(p.read_text(encoding="utf-8") for p in package.rglob("*.py"))
    assert [s.name for s in DESCRIBED if s.name in source] == []


@pytest.mark.parametrize("name", SYSTEMS)
def test_each_system_syncs_and_reconciles_clean(legacy: Path, synced: tuple[Engine, dict[str, Any]], name: str) -> None:
    engine, results = synced
    cfg = config(legacy)[name]
    system = CATALOGUE.system(name)
    if not system.builtin:
        # The source's config says where the system is; how to read it is the mapping file next to its data.
        assert cfg["profile_file"] == str((legacy / name / "mapping.toml").resolve()) and "profile" not in cfg
        assert "mapping" not in cfg
    counts = results[name]
    assert counts["state"] == "done" and identity_holds(counts), counts
    assert counts["extracted"] == expected(legacy)["sources"][name]["rows"]
    report = counts["reconciled"]
    with Session(engine) as session:
        held = {
            q.source_id: q.reasons
            for q in session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.source == name))
        }
    assert "error" not in report or report["error"] is None, report
    assert (report["missing"], report["extra"], report["changed"]) == (0, 0, 0), report
    assert report["source_rows"] == report["store_rows"] > 0
    faults = [f for f in manifest(legacy) if f["source"] == name]
    if system.builtin:
        return  # their faults are checked record by record in tests/sync/test_faults.py
    vocab = CATALOGUE.vocabularies[system.vocabulary]
    canonical = {column: key for key, column in vocab.columns.items()}
    must_hold = {}
    for f in faults:
        key = canonical.get(f["field"] or "", "")
        if f["fault"] == "invalid_date":
            must_hold[f["source_id"]] = f"invalid date in {key}"
        elif f["fault"] == "missing_field":
            must_hold[f["source_id"]] = MISSING[key]
        elif f["fault"] == "unknown_unit" or (f["fault"] == "misspelled_unit" and f["detail"] == "letter dropped"):
            must_hold[f["source_id"]] = "unknown unit"
        elif f["fault"] == "wrong_encoding":
            must_hold[f["source_id"]] = "wrong encoding"
    assert set(held) == set(must_hold), name
    for code, reason in must_hold.items():
        assert any(reason in r for r in held[code]), (code, reason, held[code])


def test_every_fault_kind_appears_across_the_described_systems(legacy: Path) -> None:
    kinds = Counter(f["fault"] for f in manifest(legacy) if f["source"] in {s.name for s in DESCRIBED})
    assert set(kinds) >= {"invalid_date", "unknown_unit", "missing_field", "wrong_encoding", "duplicate_row"}, kinds


def test_the_inventory_lists_the_seventeen_with_their_probes(legacy: Path) -> None:
    import json

    listed = json.loads((legacy / "inventory.yaml").read_text(encoding="utf-8"))["systems"]
    assert len(listed) == 17 and all(len(s["probes"]) == 1 for s in listed)
    assert {p["kind"] for s in listed for p in s["probes"]} == {"http", "tcp", "heartbeat"}


@pytest.mark.parametrize("new_store_url", ["postgresql"], indirect=True)
def test_a_sample_on_postgresql(legacy: Path, new_store_url: str) -> None:
    """One system per interface and style (link header and OAuth2, banner XLSX, utf-16 CSV, MariaDB)."""
    sample = ["ct_hotich", "hg_datdai", "ct_xaydung", "st_giaothong"]
    cfg = {k: v for k, v in config(legacy).items() if k in sample}
    engine = store(new_store_url)
    _, results = service.run(engine, cfg)
    with Session(engine) as session:
        report = reconcile(session, cfg, TODAY)
    for name in sample:
        assert results[name]["extracted"] == expected(legacy)["sources"][name]["rows"], name
        assert (report[name]["missing"], report[name]["extra"], report[name]["changed"]) == (0, 0, 0), report[name]
    engine.dispose()


def test_killed_mid_run_then_resumed_gives_the_uninterrupted_store(
    legacy: Path, synced: tuple[Engine, dict[str, Any]], tmp_path: Path
) -> None:
    reference, _ = synced
    cfg = tmp_path / "sources.toml"
    cfg.write_text((legacy / "sources.toml").read_text().replace("batch_size = 5000", "batch_size = 40"))
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    engine = store(url)
    victim = sync_process(url, cfg)
    deadline = time.monotonic() + 120
    with Session(engine) as session:
        while time.monotonic() < deadline and victim.poll() is None:
            if session.scalar(select(func.count()).select_from(SyncCursor)):
                break
            session.rollback()
            time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    with Session(engine) as session:
        assert session.scalar(select(SyncRun.state).order_by(SyncRun.id.desc()).limit(1)) == "running"
        loaded = session.scalar(select(func.count()).select_from(Dossier)) or 0
    assert 0 < loaded < expected(legacy)["dossiers"] * 0.9
    _, resumed = service.run(engine, config(legacy))
    assert all(r["state"] == "done" and identity_holds(r) for r in resumed.values()), resumed
    assert dossier_digest(engine) == dossier_digest(reference)
    assert snapshot(engine) == snapshot(reference)
    engine.dispose()


def test_a_mapping_is_derived_from_the_vocabulary_alone() -> None:
    system = CATALOGUE.system("ct_hotich")
    options = mapping_of(system, CATALOGUE.vocabularies[system.vocabulary])
    assert options["pagination"] == "link_header" and options["auth"] == {"kind": "oauth2"}
    assert options["mapping"]["fields"]["procedure_code"] == "$.thuTuc.ma"


def test_a_change_in_each_kind_of_system_is_picked_up_by_the_incremental_sync(tmp_path: Path) -> None:
    """``touch`` (the benchmark's 1 %) changes records the way each interface stores a change; the next sync reads
    exactly those (by the cursor: a new month file, a newer stamp in a table or behind an API) and stays clean."""
    from hopnhat.legacy.sector import touch

    out = tmp_path / "legacy"
    chosen = ["ct_dkkd", "hg_datdai", "hg_yte", "st_giaoduc"]
    generate(out, dossiers=250, seed=3, fault_rate=0.0, sql="sqlite", xlsx=False, systems=",".join(chosen))
    with serve_in_thread(out, port=0):
        engine = store(f"sqlite:///{tmp_path / 'store.db'}")
        service.run(engine, config(out))
        touched = {
            name: touch(out, CATALOGUE.system(name), CATALOGUE.vocabularies[CATALOGUE.system(name).vocabulary], 0.1, 5)
            for name in chosen
        }
        _, again = service.run(engine, config(out))
        with Session(engine) as session:
            report = reconcile(session, config(out), TODAY)
    for name in chosen:
        assert touched[name] > 0 and again[name]["updated"] == touched[name], (name, touched[name], again[name])
        assert again[name]["inserted"] == again[name]["quarantined"] == 0, again[name]
        assert (report[name]["missing"], report[name]["extra"], report[name]["changed"]) == (0, 0, 0), report[name]
    engine.dispose()


def test_link_header_pages_are_followed_on_the_same_server_only() -> None:
    import httpx

    from hopnhat.sync.connectors.base import TerminalError
    from hopnhat.sync.connectors.http_api import HttpApiConnector

    def answer(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("after")
        if page is None:
            return httpx.Response(200, json=[{"id": "A"}], headers={"Link": '</r?after=1>; rel="next"'})
        if page == "1":
            return httpx.Response(
                200, json=[{"id": "B"}], headers={"Link": '<http://elsewhere.example/r?after=2>; rel="next"'}
            )
        return httpx.Response(200, json=[{"id": "C"}])

    options = {
        "base_url": "http://legacy.test",
        "endpoint": "/r",
        "pagination": "link_header",
        "items": "",
        "mapping": {"id": "id", "fields": {"code": "id"}},
    }
    connector = HttpApiConnector(options, transport=httpx.MockTransport(answer))
    seen: list[str] = []
    with pytest.raises(TerminalError, match="another server"):
        seen.extend(r.source_id for r in connector.extract(None))
    assert seen == ["A", "B"]  # the two pages of this server, never the credentials sent elsewhere
