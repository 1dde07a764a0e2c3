"""The Cần Thơ API over real HTTP (paging, faults) and the parallel run (tick) seen through all three systems."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.legacy.advance import tick
from hopnhat.legacy.generator import generate
from hopnhat.legacy.server import serve_in_thread

runner = CliRunner()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    generate(tmp_path, 250, 3, fault_rate=0.1, sql="sqlite")
    return tmp_path


def page_all(base_url: str, since: str | None = None, size: int = 7) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    with httpx.Client(base_url=base_url, timeout=5) as client:
        while True:
            params: dict[str, Any] = {"page_size": size}
            if since:
                params["updated_since"] = since
            if token:
                params["page_token"] = token
            answer = client.get("/api/hoso", params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            items += body["items"]
            token = body["next_page_token"]
            if token is None:
                return items


def test_paging_returns_every_item_once_in_cursor_order(out: Path) -> None:
    rows = sqlite3.connect(out / "cantho.db").execute("SELECT COUNT(*) FROM hoso").fetchone()[0]
    with serve_in_thread(out) as server:
        config = tomllib.loads((out / "sources.toml").read_text(encoding="utf-8"))
        assert config["sources"]["cantho"]["base_url"] == server.base_url
        items = page_all(server.base_url)
        keys = [(i["NgayCapNhat"], i["MaHoSo"]) for i in items]
        assert len(items) == rows
        assert keys == sorted(keys)
        since = keys[len(keys) // 2][0]
        later = page_all(server.base_url, since=since, size=1000)
        assert later == [i for i in items if i["NgayCapNhat"] >= since]
        bad = httpx.get(f"{server.base_url}/api/hoso", params={"updated_since": "31/12/2024"})
        assert bad.status_code == 400 and "updated_since" in bad.json()["detail"]
        bad = httpx.get(f"{server.base_url}/api/hoso", params={"page_token": "nonsense"})
        assert bad.status_code == 400


def test_fault_switches_fail_hang_and_down(out: Path) -> None:
    faults = out / "faults.json"
    with serve_in_thread(out) as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
        faults.write_text(json.dumps({"fail_next": 2}))
        assert [client.get("/api/hoso").status_code for _ in range(3)] == [500, 500, 200]
        faults.write_text(json.dumps({"down": True}))
        assert client.get("/api/hoso").status_code == 503
        assert client.get("/api/hoso").status_code == 503
        faults.write_text(json.dumps({"hang_next": 1, "hang_seconds": 3}))
        with pytest.raises(httpx.ReadTimeout):
            client.get("/api/hoso", timeout=0.3)
        assert client.get("/api/hoso").status_code == 200


def test_tick_changes_are_served_live_and_written_everywhere(out: Path) -> None:
    tick(out, 600)  # the morning's arrivals: open dossiers for the next tick to move on
    with serve_in_thread(out) as server:
        before = {i["MaHoSo"]: i for i in page_all(server.base_url, size=100)}
        report = tick(out, 480, new_per_hour=30, corrections_per_hour=6)
        assert report.now == "2025-07-02T01:00:00+07:00"
        fresh = page_all(server.base_url, since="20250701170000", size=50)
    touched = set(report.codes["cantho"])
    assert sum(report.new.values()) > 0 and sum(report.changed.values()) > 0
    assert {i["MaHoSo"] for i in fresh} == touched
    for item in fresh:
        if item["MaHoSo"] in before:
            assert item != before[item["MaHoSo"]]
        else:
            assert item["TrangThaiHoSo"] in (1, 2) and item["NgayTiepNhan"] >= "20250701170000"
    soctrang = sqlite3.connect(out / "soctrang.db")
    changed = {c for (c,) in soctrang.execute("SELECT ma_hs FROM tb_hoso WHERE ngay_cap_nhat >= '2025-07-01 17:00:00'")}
    assert changed == set(report.codes["soctrang"])
    exports = [out / "haugiang" / f"hoso_2025070{d}.csv" for d in (1, 2)]
    text = "".join(p.read_bytes().decode("utf-8-sig") for p in exports if p.exists())
    assert report.codes["haugiang"] and all(code in text for code in report.codes["haugiang"])
    assert all(p.with_suffix(".xlsx").exists() for p in exports if p.exists())
    expected = json.loads((out / "expected.json").read_text(encoding="utf-8"))
    rows = sqlite3.connect(out / "cantho.db").execute("SELECT COUNT(*) FROM hoso").fetchone()[0]
    assert expected["sources"]["cantho"]["rows"] == rows
    assert expected["clock"] == report.now


def test_ticks_are_deterministic(out: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    twin = tmp_path_factory.mktemp("twin")
    generate(twin, 250, 3, fault_rate=0.1, sql="sqlite")
    first = [tick(folder, 90).to_json() for folder in (out, twin)]
    assert first[0] == first[1]
    dump = [
        sqlite3.connect(folder / "cantho.db").execute("SELECT item FROM hoso ORDER BY rid").fetchall()
        for folder in (out, twin)
    ]
    assert dump[0] == dump[1]


def test_cli_generate_tick_and_faults(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["legacy", "generate", "-n", "120", "--seed", "9", "--out", str(tmp_path), "--sql", "sqlite", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["dossiers"] == 120
    result = runner.invoke(app, ["legacy", "tick", str(tmp_path), "--minutes", "30", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["now"] == "2025-07-01T07:30:00+07:00"
    result = runner.invoke(app, ["legacy", "faults", str(tmp_path), "--fail-next", "3"])
    assert result.exit_code == 0
    assert json.loads((tmp_path / "faults.json").read_text())["fail_next"] == 3


def test_cli_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["legacy", "generate", "-n", "0", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--dossiers" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["legacy", "tick", str(tmp_path / "nowhere"), "--minutes", "5"])
    assert result.exit_code == 1 and "legacy generate" in result.output
    result = runner.invoke(app, ["legacy", "generate", "-n", "5", "--out", str(tmp_path), "--sql", "oracle"])
    assert result.exit_code == 1 and "--sql" in result.output


def test_corrections_repair_faulty_records(out: Path) -> None:
    faults = json.loads((out / "faults_manifest.json").read_text(encoding="utf-8"))["faults"]
    row_faults = {(f["source"], f["source_id"]): f for f in faults if f["fault"] in ("missing_field", "wrong_encoding")}
    report = tick(out, 600, corrections_per_hour=12)
    repaired = [(s, c) for s, codes in report.repaired.items() for c in codes]
    assert repaired
    items = {
        json.loads(i)["MaHoSo"]: json.loads(i)
        for (i,) in sqlite3.connect(out / "cantho.db").execute("SELECT item FROM hoso")
    }
    soctrang = sqlite3.connect(out / "soctrang.db")
    soctrang.row_factory = sqlite3.Row
    checked = 0
    for source, code in repaired:
        fault = row_faults.get((source, code))
        if fault is None or source == "haugiang":
            continue
        if source == "cantho":
            value = items[code].get(fault["field"])
        else:
            value = soctrang.execute("SELECT * FROM tb_hoso WHERE ma_hs = ?", (code,)).fetchone()[fault["field"]]
        assert value is not None and "Ã" not in str(value) and "á»" not in str(value), (source, code)
        checked += 1
    assert checked > 0
    expected = json.loads((out / "expected.json").read_text())
    assert expected["sources"]["cantho"]["repaired"] == len(report.repaired["cantho"])


def test_changes_while_paging_are_seen_never_missed(out: Path) -> None:
    tick(out, 600)  # open dossiers for the next tick to move
    with serve_in_thread(out) as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
        seen: set[str] = set()
        answer = client.get("/api/hoso", params={"page_size": 40}).json()
        seen |= {i["MaHoSo"] for i in answer["items"]}
        report = tick(out, 480)
        token = answer["next_page_token"]
        while token:
            answer = client.get("/api/hoso", params={"page_size": 40, "page_token": token}).json()
            seen |= {i["MaHoSo"] for i in answer["items"]}
            token = answer["next_page_token"]
    every = {m for (m,) in sqlite3.connect(out / "cantho.db").execute("SELECT ma FROM hoso")}
    assert report.changed["cantho"] > 0 and report.new["cantho"] > 0
    assert seen == every


def test_cli_serve_runs_a_real_server_process(out: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = "from hopnhat.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "legacy", "serve", str(out), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answer = None
        for _ in range(100):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None and answer.json() == {"status": "ok", "now": "20250701070000"}
        config = tomllib.loads((out / "sources.toml").read_text(encoding="utf-8"))
        assert config["sources"]["cantho"]["base_url"] == f"http://127.0.0.1:{port}"
        assert httpx.get(f"http://127.0.0.1:{port}/api/hoso", params={"page_size": 3}).json()["items"]
    finally:
        process.terminate()
        process.wait(timeout=10)
