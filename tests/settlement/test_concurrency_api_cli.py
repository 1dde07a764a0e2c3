"""Committing tests: concurrent intakes on PostgreSQL, the HTTP API and the CLI."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app as cli_app
from hopnhat.config import VN_TZ, Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.limits import SharedLimiter
from hopnhat.identity.models import RateBucket
from hopnhat.identity.roles import Role
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.settlement import service
from hopnhat.settlement.catalog import load_sample
from hopnhat.settlement.schemas import IntakeIn
from hopnhat.store.models import Dossier
from tests.identity_support import bearer, principal, token_for

DATA = Path(__file__).resolve().parents[2] / "src" / "hopnhat" / "settlement" / "data"
NINH_KIEU = "001.02.60.H13"
"""Service center of Phường Ninh Kiều (commune 31135)."""
TAN_AN = "001.03.60.H13"
"""Service center of Phường Tân An (commune 31147, where Phường An Khánh went)."""


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
    officer = principal(Role.CENTER_OFFICER, centers=[NINH_KIEU])

    def one(i: int) -> str:
        if i < 20:
            start.wait()  # the first wave starts together, so the counter row is really contended
        with session_scope(engine) as s:
            return service.intake(s, body, service.load_calendar(s), principal=officer).code

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


START = datetime(2026, 3, 2, 10, 0, tzinfo=VN_TZ)
"""A Monday in office hours, at the start of a minute: the six lookups below fall in one minute's allowance."""


@time_machine.travel(START, tick=True)
def test_api_intake_transition_public_lookup(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    as_officer = bearer(token_for(engine, Role.CENTER_OFFICER, scopes="write", centers=[TAN_AN], username="cb.ta01"))
    as_leader = bearer(token_for(engine, Role.CENTER_LEADER, scopes="read", centers=[TAN_AN]))
    body = {
        "procedure_code": "1.001193",
        "channel": 2,
        "applicant_name": "Phạm Văn Đức",
        "applicant_id_number": "092090009999",
        "applicant_address": "Phường An Khánh, Quận Ninh Kiều, Cần Thơ",
    }
    assert client.post("/api/v1/dossiers", json=body).status_code == 401  # nobody receives a dossier
    r = client.post("/api/v1/dossiers", json=body, headers=as_officer)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert r.json()["unit_code"] == "31147"
    # The officer is the token's account, the center theirs, the time the server's.
    received = datetime.fromisoformat(r.json()["received_at"])
    assert START <= received < START + timedelta(seconds=30)
    assert code.startswith(f"{TAN_AN}-260302-")
    assert r.json()["received_center_code"] == TAN_AN
    assert [(s["actor"], s["at"]) for s in r.json()["steps"]] == [("cb.ta01", r.json()["received_at"])]
    assert client.get(f"/api/v1/dossiers/{code}", headers=as_officer).json()["code"] == code
    transitions = f"/api/v1/dossiers/{code}/transitions"
    r = client.post(transitions, json={"to": "returned"}, headers=as_officer)
    assert r.status_code == 409 and r.json()["error"] == "invalid_transition"
    assert client.post(transitions, json={"to": "4"}).status_code == 401
    # Who and when are not fields: an "actor" or "at" in the body changes nothing.
    forged = {"to": "4", "actor": "someone-else", "at": "2020-01-01T00:00:00+07:00"}
    r = client.post(transitions, json=forged, headers=as_officer)
    assert r.status_code == 200 and r.json()["status"] == 4
    step = r.json()["steps"][-1]
    assert step["actor"] == "cb.ta01" and datetime.fromisoformat(step["at"]) >= received
    r = client.post(
        "/api/v1/dossiers",
        json={
            "procedure_code": "1.001193",
            "channel": 1,
            "applicant_name": "X",
            "applicant_address": "Phường 1, Cần Thơ",
        },
        headers=as_officer,
    )
    assert r.status_code == 409 and "Phú Lợi" in r.json()["detail"]

    public = client.get(f"/api/v1/public/dossiers/{code}")  # the public lookup needs no token
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

    params = {"start": "2020-01-01", "end": "2100-01-01", "format": "csv"}
    assert client.get("/api/v1/settlement/reports", params=params).status_code == 401
    report = client.get("/api/v1/settlement/reports", params=params, headers=as_leader)
    assert report.status_code == 200 and report.text.startswith("center_code,received")
    assert f"\n{TAN_AN},1," in report.text


def test_shared_limiter_holds_in_one_process_and_across_workers(store_url: str) -> None:
    engine = make_engine(store_url)
    t = float(int(time.time()) // 60 * 60)  # the start of a minute: the calls below fall in one window
    try:
        one = SharedLimiter(engine, sync_every=3600)
        assert [one.allow("lookup:10.0.0.1", 2, now=t + s) for s in (0.0, 1.0, 2.0)] == [True, True, False]
        assert one.allow("lookup:10.0.0.2", 2, now=t + 2)  # another client has its own count
        one.sync(now=t + 3)
        assert not one.allow("lookup:10.0.0.1", 2, now=t + 59.9)  # synchronising gives nothing back
        assert one.allow("lookup:10.0.0.1", 2, now=t + 60.5)  # the next minute's allowance

        # Two workers on one store: each counts locally; sync() adds its counts and reads back everyone's.
        a, b = SharedLimiter(engine, sync_every=3600), SharedLimiter(engine, sync_every=3600)
        key, limit, now = "lookup:10.0.0.9", 4, t + 10
        assert [a.allow(key, limit, now=now) for _ in range(2)] == [True, True]
        assert [b.allow(key, limit, now=now) for _ in range(2)] == [True, True]
        a.sync(now=now)
        b.sync(now=now)
        assert not b.allow(key, limit, now=now)  # b let two through itself and read a's two back: all 4 spent
        assert b.allow("lookup:10.0.0.10", limit, now=now)
        # a synchronised before b's counts reached the store: until its next sync it may let through what b spent.
        slack = sum(a.allow(key, limit, now=now) for _ in range(limit))
        a.sync(now=now)
        assert not a.allow(key, limit, now=now) and not b.allow(key, limit, now=now)
        assert slack <= 2
        with Session(engine) as session:
            stored = session.scalar(select(RateBucket.count).where(RateBucket.key == key))
        assert stored == limit + slack  # one count in the store for both workers
    finally:
        engine.dispose()


def test_cli_catalog_calendar_dossiers(store_url: str, tmp_path: Path) -> None:
    engine = _prepare(store_url)
    officer = token_for(engine, Role.CENTER_OFFICER, scopes="write", centers=[NINH_KIEU], username="cb.nk02")
    engine.dispose()
    as_officer = {"HOPNHAT_TOKEN": officer}  # the account the commands act as (on either backend)
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

    intake = [*db, "dossiers", "intake", "--procedure", "1.001193", "--name", "Võ Thị Em", "--commune", "31135"]
    if store_url.startswith("postgresql"):
        # Without a token on PostgreSQL the CLI is a department operator, who receives no dossiers.
        r = run(cli_app, intake)
        assert r.exit_code == 1 and "dossier.write" in r.output, r.output
    r = run(cli_app, [*intake, "--json"], env=as_officer)
    assert r.exit_code == 0, r.output
    code = json.loads(r.output)["code"]
    r = run(cli_app, [*db, "dossiers", "transition", code, "--to", "9"], env=as_officer)
    assert r.exit_code == 1 and "cannot go from 2" in r.output
    r = run(cli_app, [*db, "dossiers", "transition", code, "--to", "4", "--note", "thụ lý"], env=as_officer)
    assert r.exit_code == 0, r.output
    r = run(cli_app, [*db, "dossiers", "act", code, "refuse"], env=as_officer)
    assert r.exit_code == 1 and "needs a reason" in r.output, r.output
    r = run(cli_app, [*db, "dossiers", "act", code, "request_supplement", "--item", "Giấy chứng sinh"], env=as_officer)
    assert r.exit_code == 0 and "Yêu cầu bổ sung" in r.output, r.output  # status 5, by its name
    r = run(cli_app, [*db, "dossiers", "show", code, "--json"], env=as_officer)
    shown = json.loads(r.output)
    assert shown["received_center_code"] == NINH_KIEU
    assert [(s["to_status"], s["actor"]) for s in shown["steps"]] == [(2, "cb.nk02"), (4, "cb.nk02"), (5, "cb.nk02")]
    r = run(cli_app, [*db, "catalog", "export", "--format", "csv"])
    assert r.exit_code == 0 and "1.001193" in r.output
    xlsx = tmp_path / "r.xlsx"
    r = run(
        cli_app, [*db, "reports", "--from", "2020-01-01", "--to", "2100-01-01", "--format", "xlsx", "-o", str(xlsx)]
    )
    assert r.exit_code == 0 and xlsx.read_bytes()[:2] == b"PK"
