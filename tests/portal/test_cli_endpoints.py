from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app
from hopnhat.config import get_settings
from hopnhat.db import make_engine, session_scope
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.roles import Role
from hopnhat.portal.simulator import free_port
from hopnhat.store.models import OutboxEvent
from tests.identity_support import bearer, token_for
from tests.portal.conftest import Sim
from tests.portal.factories import make_dossier, make_outbox

runner = CliRunner()


def _kill_one(store_url: str) -> int:
    """Make the first event dead, as the relay would after too many failures."""
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        event = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).first()
        assert event is not None
        event.state, event.attempts, event.last_error = "dead", 10, "portal /DongBoHoSoMC: HTTP 503"
        event_id = event.id
    engine.dispose()
    return event_id


def test_cli_relay_status_dead_and_requeue(store_url: str, sim: Sim) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_outbox(session, dossiers=2, steps=1)
    engine.dispose()
    dead_id = _kill_one(store_url)

    result = runner.invoke(app, ["--db", store_url, "portal", "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert (status["pending"], status["dead"], status["blocked_dossiers"]) == (3, 1, 1)

    result = runner.invoke(
        app, ["--db", store_url, "portal", "relay", "--once", "--url", sim.url], env={"HOPNHAT_LANG": "en"}
    )
    assert result.exit_code == 0, result.output
    assert "2 events delivered" in result.output  # the other dossier; the dead one blocks its own

    listed = runner.invoke(app, ["--db", store_url, "portal", "dead", "list", "--json"])
    assert [d["id"] for d in json.loads(listed.output)] == [dead_id]

    assert runner.invoke(app, ["--db", store_url, "portal", "requeue", "999999"]).exit_code == 1
    both = runner.invoke(app, ["--db", store_url, "portal", "requeue"])
    assert both.exit_code == 1 and "either an event id or --all" in both.output
    again = runner.invoke(app, ["--db", store_url, "portal", "requeue", str(dead_id)])
    assert again.exit_code == 0 and "Đã đưa lại vào hàng đợi 1 bản ghi" in again.output  # requeued 1

    result = runner.invoke(app, ["--db", store_url, "portal", "relay", "--once", "--url", sim.url])
    assert "Đã gửi 2 bản ghi" in result.output  # 2 events delivered
    text = runner.invoke(app, ["--db", store_url, "portal", "status"], env={"HOPNHAT_LANG": "en"}).output
    assert re.search(r"Pending +0 \(", text) and re.search(r"Dead letters +0 \(", text), text
    assert len(sim.applied()) == 4


def test_relay_output_and_logs_carry_no_personal_data(
    store_url: str, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_dossier(session, "H13-260210-0200", applicant_name="Trần Thị Bích", procedure_code="")
    engine.dispose()
    result = runner.invoke(app, ["--db", store_url, "portal", "relay", "--once", "--url", sim.url])
    dead = runner.invoke(app, ["--db", store_url, "portal", "dead", "list"])
    for output in (result.output, dead.output, caplog.text):
        assert "Bích" not in output and "092099001234" not in output
    assert "MaTTHC" in dead.output
    assert "H13-260210-0200" in caplog.text  # the relay did log the refusal, by dossier code only


def test_cli_refuses_a_bad_url(store_url: str) -> None:
    result = runner.invoke(app, ["--db", store_url, "portal", "relay", "--once", "--url", "ftp://x"])
    assert result.exit_code == 1 and "not an http(s) URL" in result.output


def test_api_status_dead_and_requeue(store_url: str) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_outbox(session, dossiers=1, steps=1)
    dead_id = _kill_one(store_url)
    web_app = create_app(get_settings(database_url=store_url), engine=engine)
    operator = bearer(token_for(engine, Role.DEPARTMENT_OPERATOR, scopes="write"))
    with TestClient(web_app, headers=operator) as api, TestClient(web_app) as anonymous:
        status = api.get("/api/v1/portal/status").json()
        assert (status["pending"], status["dead"]) == (1, 1)
        dead = api.get("/api/v1/portal/dead").json()
        assert [d["id"] for d in dead] == [dead_id] and "HTTP 503" in dead[0]["last_error"]
        assert "payload" not in dead[0]
        missing = api.post("/api/v1/portal/dead/999999/requeue")
        assert missing.status_code == 404 and "999999" in missing.json()["detail"]
        assert anonymous.post(f"/api/v1/portal/dead/{dead_id}/requeue").status_code == 401  # nobody requeues
        assert api.post(f"/api/v1/portal/dead/{dead_id}/requeue").json() == {"requeued": 1}
        again = api.post(f"/api/v1/portal/dead/{dead_id}/requeue")
        assert again.status_code == 409 and "not dead" in again.json()["detail"]
        assert api.post("/api/v1/portal/dead/requeue").json() == {"requeued": 0}
    with Session(engine) as session:
        assert {e.state for e in session.scalars(select(OutboxEvent))} == {"pending"}
    engine.dispose()


def test_simulate_command_serves_over_http(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HOPNHAT_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hopnhat"),
            "portal",
            "simulate",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "s.db"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/login", json={"username": "hopnhat", "password": "hopnhat"}
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.2)
        assert answer.json()["error_code"] == 0 and answer.json()["session"]
        assert (tmp_path / "s.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_check_compares_local_and_portal_status(store_url: str, sim: Sim) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_outbox(session, dossiers=1, steps=1, prefix="CHK")
    engine.dispose()
    before = runner.invoke(app, ["--db", store_url, "portal", "check", "CHK-0000", "--url", sim.url, "--json"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.output) | {} == {
        "dossier_code": "CHK-0000",
        "local_status": 4,
        "portal_status": None,
        "portal_steps": 0,
        "undelivered_events": 2,
        "in_sync": False,
    }
    runner.invoke(app, ["--db", store_url, "portal", "relay", "--once", "--url", sim.url])
    after = runner.invoke(
        app, ["--db", store_url, "portal", "check", "CHK-0000", "--url", sim.url], env={"HOPNHAT_LANG": "en"}
    )
    assert "here In process, on the portal In process (in sync); 0 events not yet delivered" in after.output
    unknown = runner.invoke(app, ["--db", store_url, "portal", "check", "NOPE", "--url", sim.url])
    assert unknown.exit_code == 1 and "NOPE does not exist here" in unknown.output


def test_cli_mend_skip_and_report766(store_url: str, sim: Sim, tmp_path: Path) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_dossier(session, "H13–260210–0900")  # en dashes: cannot be sent
        make_dossier(session, "H13-260210-0901", procedure_code="")  # refused by the portal
    engine.dispose()
    runner.invoke(app, ["--db", store_url, "portal", "relay", "--once", "--url", sim.url, "--style", "urls"])
    dead = json.loads(runner.invoke(app, ["--db", store_url, "portal", "dead", "list", "--json"]).output)
    assert [(d["dossier_code"], "cannot be sent" in d["last_error"]) for d in dead] == [
        ("H13–260210–0900", True),
        ("H13-260210-0901", False),
    ]
    bad_field = runner.invoke(
        app, ["--db", store_url, "portal", "dead", "mend", str(dead[0]["id"]), "--set", "ChuHoSo=X", "--reason", "r"]
    )
    assert bad_field.exit_code == 1 and "cannot be mended" in bad_field.output
    mended = runner.invoke(
        app,
        ["--db", store_url, "portal", "dead", "mend", str(dead[0]["id"]), "--set", "MaHoSo=H13-260210-0900",
         "--reason", "dấu gạch ngang"],
    )  # fmt: skip
    assert mended.exit_code == 0, mended.output
    skipped = runner.invoke(
        app, ["--db", store_url, "portal", "dead", "skip", str(dead[1]["id"]), "--reason", "hồ sơ thử"]
    )
    assert skipped.exit_code == 0, skipped.output
    runner.invoke(app, ["--db", store_url, "portal", "relay", "--once", "--url", sim.url, "--style", "urls"])
    assert [r["MaHoSo"] for r in sim.applied()] == ["H13-260210-0900"]
    status = json.loads(runner.invoke(app, ["--db", store_url, "portal", "status", "--json"]).output)
    assert (status["pending"], status["dead"], status["skipped"], status["delivered"]) == (0, 0, 1, 1)
    engine = make_engine(store_url)
    with Session(engine) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("portal.%"))).all()
    engine.dispose()
    assert sorted(actions) == ["portal.mend", "portal.skip"]

    report = runner.invoke(
        app, ["--db", store_url, "portal", "report766", "--start", "2026-02-01", "--end", "28/02/2026"]
    )
    assert report.exit_code == 0, report.output
    assert report.output.splitlines()[-1].startswith("*,2,0,0,0,0,,")  # nothing finished: no on-time figure
    out = tmp_path / "766.xlsx"
    result = runner.invoke(
        app,
        ["--db", store_url, "portal", "report766", "--start", "2026-02-01", "--end", "2026-02-28", "--format",
         "xlsx", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0 and out.read_bytes()[:2] == b"PK"


def test_api_mend_and_skip_are_audited(store_url: str) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_outbox(session, dossiers=2, steps=0)
        events = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
        for event in events:
            event.state, event.last_error = "dead", "portal DongBoHoSoMC: error_code -1: MaHoSo không hợp lệ"
        first, second = (e.id for e in events)
    web_app = create_app(get_settings(database_url=store_url), engine=engine)
    operator = bearer(token_for(engine, Role.DEPARTMENT_OPERATOR, scopes="write"))
    auditor = bearer(token_for(engine, Role.AUDITOR, scopes="write"))
    with TestClient(web_app, headers=operator) as api:
        body = {"fields": {"MaHoSo": "H13-260210-9999"}, "reason": "mã sai"}
        assert api.post(f"/api/v1/portal/dead/{first}/mend", json=body, headers=auditor).status_code == 403
        wrong = api.post(f"/api/v1/portal/dead/{first}/mend", json={"fields": {"ChuHoSo": "X"}, "reason": "r"})
        assert wrong.status_code == 422 and "cannot be mended" in wrong.json()["detail"]
        assert api.post(f"/api/v1/portal/dead/{first}/mend", json=body).json() == {"requeued": 1}
        assert api.post(f"/api/v1/portal/dead/{second}/skip", json={"reason": ""}).status_code == 422
        assert api.post(f"/api/v1/portal/dead/{second}/skip", json={"reason": "thử"}).json() == {"requeued": 0}
        again = api.post(f"/api/v1/portal/dead/{second}/skip", json={"reason": "thử"})
        assert again.status_code == 409
    with Session(engine) as session:
        assert [e.state for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))] == [
            "pending",
            "skipped",
        ]
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action.like("portal.%"))).all()
        assert sorted((a.action, a.object_id) for a in audited) == [
            ("portal.mend", str(first)),
            ("portal.skip", str(second)),
        ]
    engine.dispose()
