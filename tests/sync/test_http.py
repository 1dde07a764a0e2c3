"""The HTTP source: transient failures retried with backoff, a source that stays down fails alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.legacy import generate, serve_in_thread
from hopnhat.legacy.server import MAX_PAGE_SIZE
from hopnhat.sync import service
from hopnhat.sync.connectors.base import TerminalError
from hopnhat.sync.connectors.http_api import HttpApiConnector
from tests.sync.helpers import config, identity_holds, store

ITEM = {"MaHoSo": "000.00.31.H13-250102-0001", "NgayCapNhat": "20250102080000", "TrangThaiHoSo": 2}
runner = CliRunner()
OPTIONS = {"base_url": "http://legacy.test", "backoff_seconds": 0.0, "retries": 3}


def test_500s_and_timeouts_are_retried() -> None:
    answers = iter(["500", "timeout", "503", "ok"])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if answer != "ok":
            return httpx.Response(int(answer))
        return httpx.Response(200, json={"items": [ITEM], "next_page_token": None})

    got = list(HttpApiConnector(OPTIONS, transport=httpx.MockTransport(handler)).extract(None))
    assert [r.source_id for r in got] == [ITEM["MaHoSo"]]
    assert got[0].fields["status"] == 2


def test_source_that_stays_down_is_a_terminal_error_naming_the_server() -> None:
    connector = HttpApiConnector(OPTIONS, transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    with pytest.raises(TerminalError, match=r"legacy.test still failing after 4 attempts \(HTTP 503\)"):
        list(connector.extract(None))


def test_bad_request_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": "invalid_input"})

    with pytest.raises(TerminalError, match="HTTP 400"):
        list(HttpApiConnector(OPTIONS, transport=httpx.MockTransport(handler)).extract(None))
    assert len(calls) == 1


def _faults(out: Path, *args: str) -> dict[str, Any]:
    """Set the simulator's fault switches the way an operator does, with ``hopnhat legacy faults``."""
    result = runner.invoke(app, ["legacy", "faults", str(out), *args])
    assert result.exit_code == 0, result.output
    switches: dict[str, Any] = json.loads((out / "faults.json").read_text())
    return switches


def test_real_server_500s_and_timeouts_retried_and_a_down_source_fails_alone(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=120, seed=3, fault_rate=0.0, sql="sqlite", xlsx=False)
    rows = json.loads((out / "expected.json").read_text())["sources"]
    engine = store(store_url)
    with serve_in_thread(out):
        _faults(out, "--fail-next", "2", "--fail-status", "500", "--hang-next", "1", "--hang-seconds", "3")
        _, results = service.run(engine, config(out, timeout_seconds=0.5, retries=4))
        # The server consumed both failures and the hang: the sync really met them, and got through.
        after = json.loads((out / "faults.json").read_text())
        assert after["fail_next"] == after["hang_next"] == 0
        assert results["cantho"]["state"] == "done", results["cantho"]
        assert results["cantho"]["extracted"] == rows["cantho"]["rows"]
        assert results["cantho"]["inserted"] == rows["cantho"]["distinct_ids"]
        assert identity_holds(results["cantho"])

        _faults(out, "--down")
        _, results = service.run(engine, config(out, retries=2))
    assert results["cantho"]["state"] == "failed"
    assert "source cantho" in results["cantho"]["error"] and "503" in results["cantho"]["error"]
    for other in ("haugiang", "soctrang"):
        # The others are synced in the same run (nothing new since the first run: all unchanged, none lost).
        assert results[other]["state"] == "done", results[other]
        assert results[other]["extracted"] > 0 and identity_holds(results[other])
    engine.dispose()


def test_the_generated_config_asks_the_server_for_its_largest_page(tmp_path: Path) -> None:
    generate(tmp_path, dossiers=30, seed=3, fault_rate=0.0, sql="sqlite", xlsx=False)
    with serve_in_thread(tmp_path):
        options = service.load_config(tmp_path / "sources.toml")["cantho"]
        url = f"{options['base_url']}{options['endpoint']}"
        size = int(options["page_size"])
        assert size == MAX_PAGE_SIZE
        assert httpx.get(url, params={"page_size": size}).status_code == 200
        assert httpx.get(url, params={"page_size": size + 1}).status_code == 400
