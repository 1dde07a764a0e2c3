"""Committing tests: concurrent intakes on PostgreSQL, the HTTP API and the CLI."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app as cli_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.settlement import service
from hopnhat.settlement.catalog import load_sample
from hopnhat.settlement.endpoints import SlidingWindow
from hopnhat.settlement.schemas import IntakeIn
from hopnhat.store.models import Dossier

DATA = Path(__file__).resolve().parents[2] / "src" / "hopnhat" / "settlement" / "data"


def _prepare(url: str) -> Engine:
    engine = make_engine(url)
    ensure_schema(engine)
    with session_scope(engine) as s:
        registry.load(s)
        registry.issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(s)
    return engine


@pytest.mark.parametrize("new_store_url", ["postgresql"], indirect=True)
def test_200_concurrent_intakes_get_200_distinct_codes(new_store_url: str) -> None:
    engine = _prepare(new_store_url)
    start = threading.Barrier(20)
    body = IntakeIn(procedure_code="1.001193", channel=2, applicant_name="Lê Thị Cúc", commune_code="31135")

    def one(i: int) -> str:
        if i < 20:
            start.wait()  # the first wave starts together, so the counter row is really contended
        with session_scope(engine) as s:
            return service.intake(s, body, service.load_calendar(s)).code

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            codes = list(pool.map(one, range(200)))
        assert len(set(codes)) == 200
        assert sorted(c[-4:] for c in codes) == [f"{n:04d}" for n in range(1, 201)]
        with session_scope(engine) as s:
            assert s.scalar(select(func.count()).select_from(Dossier)) == 200
    finally:
        engine.dispose()


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    engine = _prepare(store_url)
    try:
        yield TestClient(create_app(Settings(database_url=store_url, public_rate_limit_per_minute=5), engine=engine))
    finally:
        engine.dispose()


def test_api_intake_transition_public_lookup(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = client.post(
        "/api/v1/dossiers",
        json={
            "procedure_code": "1.001193",
            "channel": 2,
            "applicant_name": "Phạm Văn Đức",
            "applicant_id_number": "092090009999",
            "applicant_address": "Phường An Khánh, Quận Ninh Kiều, Cần Thơ",
        },
    )
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert r.json()["unit_code"] == "31147"
    r = client.post(f"/api/v1/dossiers/{code}/transitions", json={"to": "returned", "actor": "cb"})
    assert r.status_code == 409 and r.json()["error"] == "invalid_transition"
    r = client.post(f"/api/v1/dossiers/{code}/transitions", json={"to": "4", "actor": "cb"})
    assert r.status_code == 200 and r.json()["status"] == 4
    r = client.post(
        "/api/v1/dossiers",
        json={
            "procedure_code": "1.001193",
            "channel": 1,
            "applicant_name": "X",
            "applicant_address": "Phường 1, Cần Thơ",
        },
    )
    assert r.status_code == 409 and "Phú Lợi" in r.json()["detail"]

    public = client.get(f"/api/v1/public/dossiers/{code}")
    assert public.status_code == 200
    for secret in ("Phạm Văn", "P***", "092090009999", "An Khánh"):
        assert secret not in public.text
        assert secret not in caplog.text
    assert "applicant" not in public.json()
    assert [s["to_status"] for s in public.json()["steps"]] == [2, 4]
    assert public.json()["status"] == 4
    missing = client.get("/api/v1/public/dossiers/NO-SUCH-CODE")
    assert missing.status_code == 404 and "no dossier" in missing.json()["detail"]
    statuses = [client.get(f"/api/v1/public/dossiers/{code}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # 5 per minute: the sixth lookup from this client is refused

    report = client.get(
        "/api/v1/settlement/reports", params={"start": "2020-01-01", "end": "2100-01-01", "format": "csv"}
    )
    assert report.status_code == 200 and report.text.startswith("center_code,received")


def test_rate_limit_counts_each_client_over_a_sliding_minute() -> None:
    window = SlidingWindow()
    assert [window.allow("10.0.0.1", 2, now=t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert window.allow("10.0.0.2", 2, now=2.0)  # another client has its own count
    assert not window.allow("10.0.0.1", 2, now=59.9)
    assert window.allow("10.0.0.1", 2, now=60.5)  # the first hit has left the window


def test_cli_catalog_calendar_dossiers(store_url: str, tmp_path: Path) -> None:
    _prepare(store_url).dispose()
    run = CliRunner().invoke
    db = ["--db", store_url]
    r = run(cli_app, [*db, "calendar", "due", "--from", "2026-02-13T09:00", "--days", "3", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["due"] == "2026-02-25T09:00:00+07:00"
    assert run(cli_app, [*db, "calendar", "days", "add", "2026-02-21", "--kind", "work"]).exit_code == 0
    r = run(cli_app, [*db, "calendar", "due", "--from", "2026-02-13T09:00", "--days", "3"])
    assert r.output.strip() == "2026-02-24T09:00".replace("T", " ")

    r = run(cli_app, [*db, "catalog", "relevel", "--rules", str(DATA / "sample_relevel_rules.csv"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {"code": "MAU-002", "level": "commune"} in out["moved"] and out["unassigned"] == ["MAU-005"]
    r = run(cli_app, [*db, "processes", "convert", str(DATA / "sample_legacy_process.json"), "--json"])
    assert r.exit_code == 2  # 112 h of steps against a 15-day (120 h) limit is flagged
    assert json.loads(r.output)[0]["mismatch"] is True

    r = run(
        cli_app,
        [*db, "dossiers", "intake", "--procedure", "1.001193", "--name", "Võ Thị Em", "--commune", "31135", "--json"],
    )
    assert r.exit_code == 0, r.output
    code = json.loads(r.output)["code"]
    r = run(cli_app, [*db, "dossiers", "transition", code, "--to", "9", "--actor", "cb"])
    assert r.exit_code == 1 and "cannot go from 2" in r.output
    r = run(cli_app, [*db, "catalog", "export", "--format", "csv"])
    assert r.exit_code == 0 and "1.001193" in r.output
    xlsx = tmp_path / "r.xlsx"
    r = run(
        cli_app, [*db, "reports", "--from", "2020-01-01", "--to", "2100-01-01", "--format", "xlsx", "-o", str(xlsx)]
    )
    assert r.exit_code == 0 and xlsx.read_bytes()[:2] == b"PK"
