"""The operator's surface: ``sync run --json``, ``quarantine``, ``reconcile``, ``cutover check`` and the API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app
from hopnhat.config import Settings
from hopnhat.identity.roles import Role
from hopnhat.legacy import generate, serve_in_thread
from tests.identity_support import bearer, token_for
from tests.sync.helpers import store

runner = CliRunner()
COUNT_KEYS = {"extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates"}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("legacy")
    generate(out, dossiers=200, seed=9, fault_rate=0.1, sql="sqlite", xlsx=False)
    with serve_in_thread(out):
        yield out


def _cli(url: str, *args: str, token: str | None = None) -> tuple[int, str]:
    env = {"HOPNHAT_TOKEN": token} if token else None
    result = runner.invoke(app, ["--db", url, *args], env=env)
    return result.exit_code, result.stdout


def test_cli_run_quarantine_reconcile_cutover(legacy: Path, store_url: str, tmp_path: Path) -> None:
    engine = store(store_url)
    steward = token_for(engine, Role.DATA_STEWARD, scopes="read")
    operator = token_for(engine, Role.DEPARTMENT_OPERATOR, scopes="write")
    engine.dispose()
    cfg = str(legacy / "sources.toml")
    code, out = _cli(store_url, "sync", "run", "--config", cfg, "--json")
    assert code == 0, out
    counts = json.loads(out)
    assert set(counts) == {"cantho", "haugiang", "soctrang"}
    for c in counts.values():
        assert set(c) == COUNT_KEYS
        assert c["extracted"] == c["inserted"] + c["updated"] + c["unchanged"] + c["quarantined"] + c["duplicates"]
    held = sum(c["quarantined"] for c in counts.values())
    assert held > 0

    code, out = _cli(store_url, "sync", "quarantine", "list", "--json")
    listed = json.loads(out)
    assert len(listed) == held and all(q["reasons"] for q in listed)
    held_id = str(listed[0]["id"])
    if store_url.startswith("postgresql"):
        # Without a token on PostgreSQL the CLI is a department operator: no personal data.
        refused = runner.invoke(app, ["--db", store_url, "sync", "quarantine", "show", held_id])
        assert refused.exit_code == 1 and "may not do quarantine" in refused.output, refused.output
        assert "payload" not in refused.output
    code, out = _cli(store_url, "sync", "quarantine", "show", held_id, token=steward)
    assert code == 0 and json.loads(out)["payload"]
    code, out = _cli(store_url, "sync", "quarantine", "show", "999999", token=steward)
    assert code == 1

    report_file = tmp_path / "reconcile.html"
    code, out = _cli(store_url, "reconcile", "--config", cfg, "--json", "--html", str(report_file))
    report = json.loads(out)
    assert all(r["missing"] == r["extra"] == r["changed"] == 0 for r in report.values())
    assert "Reconciliation" in report_file.read_text()

    code, out = _cli(store_url, "cutover", "check", "--config", cfg, "--json")
    verdicts = json.loads(out)
    assert code == 1  # quarantine is not resolved
    assert any(re.search(r"quarantined records? not resolved", r) for v in verdicts.values() for r in v["reasons"])
    assert all(set(v) == {"ready", "reasons"} for v in verdicts.values())

    code, out = _cli(store_url, "sync", "runs", "--json")
    assert json.loads(out)[0]["sources"]["cantho"]["state"] == "done"

    client = TestClient(create_app(Settings(database_url=store_url)))
    assert client.get("/api/v1/sync/runs").status_code == 401
    assert client.get("/api/v1/sync/runs", headers=bearer(operator)).json()[0]["state"] == "done"
    assert client.get("/api/v1/sync/quarantine").status_code == 401
    assert client.get("/api/v1/sync/quarantine", headers=bearer(operator)).status_code == 403  # personal data
    page = client.get("/api/v1/sync/quarantine", headers=bearer(steward)).json()
    assert len(page) == held and "payload" not in page[0]
    summary = client.get("/api/v1/sync/reconcile/summary", headers=bearer(operator)).json()
    assert summary["soctrang"]["copies"] > 0


def test_cli_errors_are_one_line(legacy: Path, store_url: str, tmp_path: Path) -> None:
    store(store_url).dispose()
    result = runner.invoke(app, ["--db", store_url, "sync", "run", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = runner.invoke(
        app, ["--db", store_url, "sync", "run", "--config", str(legacy / "sources.toml"), "--source", "hanoi"]
    )
    assert result.exit_code == 1 and "hanoi" in result.output
