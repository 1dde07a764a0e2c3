"""The continuity API and CLI over a committed store on both backends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app as cli_app
from hopnhat.config import Settings
from hopnhat.db import make_engine
from hopnhat.identity.roles import Role
from tests.continuity.servers import LOOPBACK_NETWORKS, HttpServer
from tests.identity_support import admin_headers, bearer, token_for

API = "/api/v1/continuity"
runner = CliRunner()


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    """The API as a department operator (a machine token with scope ``write``)."""
    engine = make_engine(store_url)
    try:
        settings = Settings(database_url=store_url, probe_allowed_networks=LOOPBACK_NETWORKS)
        operator = bearer(token_for(engine, Role.DEPARTMENT_OPERATOR, scopes="write"))
        yield TestClient(create_app(settings, engine=engine), headers=operator)
    finally:
        engine.dispose()


def cli(store_url: str, *args: str) -> tuple[int, str]:
    env = {"HOPNHAT_PROBE_ALLOWED_NETWORKS": LOOPBACK_NETWORKS}  # the probed servers listen on loopback
    result = runner.invoke(cli_app, ["--db", store_url, *args], env=env)
    return result.exit_code, result.output


def test_api_systems_probes_status_and_metrics(client: TestClient, store_url: str) -> None:
    body = {"code": "ct-portal", "name": "Cổng thông tin điện tử", "criticality": "high", "decision": "keep"}
    assert TestClient(client.app).post(f"{API}/systems", json=body).status_code == 401  # without a token
    assert client.post(f"{API}/systems", json=body).status_code == 201
    assert client.post(f"{API}/systems", json=body).json()["error"] == "conflict"
    assert client.post(f"{API}/systems", json={**body, "code": "x", "decision": "burn"}).status_code == 422
    assert client.patch(f"{API}/systems/ct-portal", json={"status": "migrating"}).json()["status"] == "migrating"
    assert client.get(f"{API}/systems/nope").status_code == 404

    server = HttpServer()
    probe = {
        "name": "portal-http",
        "kind": "http",
        "target": server.url + "/",
        "body_contains": "OK",
        "fail_threshold": 1,
        "timeout_s": 2,
    }
    assert client.put(f"{API}/systems/ct-portal/probes", json=probe).status_code == 403  # the administrator's
    as_admin = admin_headers(client.app.state.engine)  # type: ignore[attr-defined]
    assert client.put(f"{API}/systems/ct-portal/probes", json=probe, headers=as_admin).status_code == 200
    try:
        code, out = cli(store_url, "monitor", "--once", "--json")
        assert code == 0 and {"probe": "portal-http", "up": True, "detail": "HTTP 200"} in json.loads(out), out
        assert client.get(f"{API}/status").json()[0]["state"] == "up"
    finally:
        server.stop()
    code, out = cli(store_url, "monitor", "--once", "--json")
    assert code == 0 and [(p["probe"], p["up"]) for p in json.loads(out)] == [("portal-http", False)]
    [status] = client.get(f"{API}/status").json()
    assert status["state"] == "down" and status["open_incident_id"] is not None
    incident = client.get(f"{API}/incidents", params={"open_only": True}).json()[0]
    noted = client.post(f"{API}/incidents/{incident['id']}/notes", json={"note": "đang xử lý"}).json()
    assert "đang xử lý" in noted["notes"]
    uptime = client.get(f"{API}/systems/ct-portal/uptime").json()
    assert sum(d["checks"] for d in uptime) == 2 and 50.0 in [d["uptime_pct"] for d in uptime]

    metrics = client.get(f"{API}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'hopnhat_probe_up{probe="portal-http",system="ct-portal"} 0.0' in metrics.text
    assert "hopnhat_incidents_open 1.0" in metrics.text
    assert "hopnhat_probe_latency_seconds_bucket" in metrics.text

    assert client.post(f"{API}/heartbeats/relay").status_code == 204


def test_cli_example_inventory_plan_and_centers(store_url: str, tmp_path: Path) -> None:
    code, out = cli(store_url, "systems", "import", "--example")
    assert code == 0 and "VÍ DỤ" in out  # EXAMPLE data
    code, out = cli(store_url, "systems", "list", "--json")
    systems = json.loads(out)
    provinces = {s["province"] for s in systems}
    assert {"Tỉnh Sóc Trăng (cũ)", "Tỉnh Hậu Giang (cũ)"} <= provinces and len(systems) > 40

    assert cli(store_url, "plan", "import", "--example")[0] == 0
    code, out = cli(store_url, "plan", "overdue", "--on", "2025-07-05", "--json")
    # the three consolidation tasks, one per source (Cần Thơ, Hậu Giang, Sóc Trăng), are past their deadline
    assert {t["code"] for t in json.loads(out) if t["overdue"]} == {"T02", "T03", "T04"}

    code, out = cli(store_url, "centers", "seed")
    assert code == 0
    assert out.startswith("Đã tạo 104 trung tâm; đã điền 0 mã định danh\n104 trung tâm chưa có mã định danh")
    # Codes issued later: seeding again fills them in, and the centers list shows them.
    assert cli(store_url, "registry", "load")[0] == 0
    assert cli(store_url, "agencies", "issue", "--date", "2025-07-01")[0] == 0
    assert cli(store_url, "centers", "seed") == (0, "Đã tạo 0 trung tâm; đã điền 104 mã định danh\n")
    assert cli(store_url, "centers", "seed") == (0, "Đã tạo 0 trung tâm; đã điền 0 mã định danh\n")
    code, out = cli(store_url, "centers", "list", "--json")
    listed = {c["code"]: c["agency_code"] for c in json.loads(out)}
    assert len(listed) == 104 and None not in listed.values() and listed["31120"] == "001.01.60.H13"
    code, out = cli(store_url, "centers", "readiness", "--center", "31120", "--json")
    [row] = json.loads(out)
    assert row["ready"] is False and "no staff list (due 2025-06-30)" in row["reasons"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("systems:\n  - code: x\n    name: X\n    decision: burn\n", encoding="utf-8")
    code, out = cli(store_url, "systems", "import", str(bad))
    assert code == 1 and "bad.yaml: system x: decision" in out and "Traceback" not in out
    code, out = cli(store_url, "centers", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and "no such file" in out


def test_api_plan_readiness_overview_and_csv_inventory(client: TestClient, store_url: str, tmp_path: Path) -> None:
    inventory = tmp_path / "systems.csv"
    inventory.write_text(
        "code,name,former_province,criticality,decision,target_system,target_date\n"
        "hg-mail,Thư điện tử Hậu Giang,Tỉnh Hậu Giang (cũ),high,migrate,ct-mail,2025-09-30\n",
        encoding="utf-8",
    )
    assert cli(store_url, "systems", "import", str(inventory)) == (0, "Đã nạp 1 hệ thống, 0 phép kiểm tra\n")
    assert client.get(f"{API}/systems/hg-mail").json()["target_date"] == "2025-09-30"
    code, out = cli(store_url, "systems", "maintenance", "hg-mail", "--from", "2025-07-01T22:00", "--to", "x")
    assert code == 1 and "ISO date-times" in out
    ok = cli(
        store_url,
        "systems",
        "maintenance",
        "hg-mail",
        "--from",
        "2025-07-01T22:00+07:00",
        "--to",
        "2025-07-02T02:00+07:00",
    )
    assert ok[0] == 0, ok[1]

    task = {"code": "ignored", "title": "Chuyển thư điện tử", "deadline": "2020-01-31"}
    assert TestClient(client.app).put(f"{API}/tasks/M1", json=task).status_code == 401  # without a token
    assert client.put(f"{API}/tasks/M1", json=task).status_code == 200
    assert [t["code"] for t in client.get(f"{API}/tasks", params={"view": "overdue"}).json()] == ["M1"]
    assert client.patch(f"{API}/tasks/M1", json={"status": "done"}).json()["status"] == "done"
    assert client.get(f"{API}/tasks", params={"view": "overdue"}).json() == []
    assert client.patch(f"{API}/tasks/M9", json={"status": "done"}).status_code == 404

    assert cli(store_url, "centers", "seed")[0] == 0
    staff = tmp_path / "staff.csv"
    staff.write_text("center_code,person,from_date\n31120,Phạm Văn D,2025-06-01\n", encoding="utf-8")
    assert cli(store_url, "centers", "import", str(staff)) == (0, "staff: Đã nhập 1 dòng\n")
    relaxed = {"center": "31120", "regulation_by": "2025-12-31", "require_equipment": False}
    [row] = client.get(f"{API}/readiness", params=relaxed).json()
    assert row["staff_ok"] is True and row["regulation_ok"] is False and "Phạm Văn D" not in json.dumps(row)
    overview = client.get(f"{API}/overview").json()
    assert overview["centers"] == {"total": 104, "ready": 0}
    assert overview["systems"]["unknown"] == 1 and overview["tasks"]["done"] == 1


def test_cutover_check_records_verdicts_the_plan_shows(store_url: str, tmp_path: Path) -> None:
    """``hopnhat cutover check`` reads the real (generated) sources and records each verdict; the plan, which has
    no source configuration, shows the latest one with its time and holds back the linked task when not ready."""
    from hopnhat.legacy import generate, serve_in_thread

    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=7, fault_rate=0.3, sql="sqlite", xlsx=False)
    assert cli(store_url, "registry", "load")[0] == 0
    assert cli(store_url, "plan", "import", "--example")[0] == 0
    code, out_text = cli(store_url, "plan", "list", "--on", "2025-06-01", "--json")
    before = {t["code"]: t for t in json.loads(out_text)}
    assert before["T03"]["cutover"] is None and before["T03"]["at_risk"]
    assert "cut-over of haugiang: no verdict yet (run `hopnhat cutover check`)" in before["T03"]["reasons"]

    with serve_in_thread(out):
        config = str(out / "sources.toml")
        assert cli(store_url, "sync", "run", "--config", config)[0] == 0
        code, out_text = cli(store_url, "cutover", "check", "--config", config, "--json")
    verdicts = json.loads(out_text)
    assert code == 1 and not verdicts["haugiang"]["ready"]  # the fault rate leaves quarantined records

    code, out_text = cli(store_url, "plan", "list", "--on", "2025-06-01", "--json")
    tasks = {t["code"]: t for t in json.loads(out_text)}
    for task, source in (("T02", "cantho"), ("T03", "haugiang"), ("T04", "soctrang")):
        recorded = tasks[task]["cutover"]
        assert recorded["source"] == source and recorded["ready"] == verdicts[source]["ready"]
        assert recorded["reasons"] == verdicts[source]["reasons"] and recorded["checked_at"]
        assert tasks[task]["at_risk"] is (not recorded["ready"])
    held = tasks["T03"]["reasons"]
    assert any(r.startswith("cut-over of haugiang not ready (checked ") for r in held), held
    assert any(re.search(r"quarantined records? not resolved", r) for r in held), held
