"""``hopnhat demo --no-serve`` leaves a store in which every page has something to show, the cut-over verdicts
included, and an ``admin`` whose password was printed once."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app
from hopnhat.config import Settings
from hopnhat.db import make_engine
from hopnhat.legacy import cleanup
from tests.identity_support import signin

SOURCES = ("cantho", "haugiang", "soctrang")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_demo_leaves_every_page_with_content(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    out = tmp_path / "legacy"
    args = ["--db", url, "demo", "--no-serve", "--dossiers", "300", "--out", str(out)]
    try:
        first = CliRunner(env={"HOPNHAT_LANG": "en"}).invoke(app, args)
        assert first.exit_code == 0, first.output
        # A second demo on the same store keeps the account and the data.
        again = CliRunner(env={"HOPNHAT_LANG": "en"}).invoke(app, args)
        assert again.exit_code == 0, again.output
    finally:
        cleanup(out)
    passwords = re.findall(r"password \(shown once\): (\S+)", first.output)
    assert len(passwords) == 1
    assert "password (shown once)" not in again.output
    assert "plan tasks (EXAMPLE plan)" in first.output and "plan tasks" not in again.output

    engine = make_engine(url)
    try:
        client = TestClient(
            create_app(Settings(database_url=url, secret_key="demo-test-secret-0123456789"), engine),
            follow_redirects=False,
        )
        assert signin(client, "admin", passwords[0]).status_code == 303  # type: ignore[attr-defined]

        verdict = r"(✔ Sẵn sàng|✖ Chưa sẵn sàng)"
        when = r"\d\d/\d\d/\d{4} \d\d:\d\d"
        overview = _text(client.get("/").text)
        for source in SOURCES:  # the verdicts the demo computed, with when
            assert re.search(rf"{source} {verdict} .*?{when}", overview), overview
        plan = _text(client.get("/plan").text)
        for code, source in (("T02", "cantho"), ("T03", "haugiang"), ("T04", "soctrang")):
            # the consolidation task of each source, with that source's verdict and its time
            assert re.search(rf"{code} .{{0,200}}? {source} .{{0,300}}?{verdict} {when}", plan), plan
        assert "VÍ DỤ" in plan  # the bundled plan says it is an example

        centers = client.get("/centers").text
        assert centers.count('data-col="code"') == 10  # the list's first page (readiness names, not codes)
        assert centers.count("104 dòng") == 2  # readiness and list panels, 103 communes + the city
        systems = _text(client.get("/systems").text)
        assert "Nền tảng tích hợp, chia sẻ dữ liệu (LGSP)" in systems
        sync = _text(client.get("/sync").text)
        assert all(source in sync for source in SOURCES) and "Hoàn thành" in sync
        assert client.get("/sync/quarantine").status_code == 200
        dossiers = client.get("/dossiers").text
        codes = re.findall(r'<option value="([^"]+)"', dossiers)
        assert any(c.endswith(".H13") for c in codes)  # dossiers routed to centers with issued agency codes
        assert "Phường Cái Khế" in client.get("/registry").text
    finally:
        engine.dispose()
