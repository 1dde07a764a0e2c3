"""The built wheel, installed into a fresh virtualenv without a package index, serves the pages, every static asset
and the bundled tables.

About 35 s (build, repack the dependencies, install): it runs where ``HOPNHAT_TEST_WHEEL=1``, which ``.ci/run`` sets,
so CI runs it once per build and a developer's ``pytest`` skips it with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.http_support import free_port
from tests.ops.wheelhouse import build

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    os.environ.get("HOPNHAT_TEST_WHEEL") != "1", reason="packaging test: set HOPNHAT_TEST_WHEEL=1 (.ci/run does)"
)


def _offline_env() -> dict[str, str]:
    """The environment without any pip index or link settings: nothing may come from elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))}


def test_the_wheel_installs_offline_and_serves_pages_assets_and_bundled_tables(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in the worktree would leave build/ and egg-info there
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            dist,
            source,
        ],
        check=True,
        env=_offline_env(),
        timeout=300,
    )
    wheel = next(dist.glob("hopnhat-*.whl"))
    house = tmp_path / "wheelhouse"
    build(house)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            venv / "bin" / "python",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            house,
            wheel,
        ],
        check=True,
        env=_offline_env(),
        timeout=600,
    )
    hopnhat = venv / "bin" / "hopnhat"
    env = {**_offline_env(), "HOME": str(tmp_path)}
    version = subprocess.run([hopnhat, "--version"], capture_output=True, text=True, check=True, env=env)
    from hopnhat import __version__

    assert version.stdout.strip() == f"hopnhat {__version__}"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    loaded = subprocess.run([hopnhat, "--db", url, "registry", "load"], capture_output=True, text=True, env=env)
    assert loaded.returncode == 0, loaded.stderr  # the bundled units, lineage and agencies, from the wheel

    site = next((venv / "lib").glob("python*/site-packages/hopnhat"))
    assert not str(site).startswith(str(ROOT / "src"))
    port = free_port()
    server = subprocess.Popen([hopnhat, "--db", url, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/v1/health")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, server.communicate()[1]
                time.sleep(0.3)
        page = httpx.get(f"{base}/lookup")
        assert page.status_code == 200 and "Tra cứu" in page.text
        assert httpx.get(f"{base}/docs").status_code == 200
        assets = sorted(p for p in (site / "web" / "static").rglob("*") if p.is_file())
        assert len(assets) >= len([p for p in (ROOT / "src/hopnhat/web/static").rglob("*") if p.is_file()])
        for asset in assets:
            got = httpx.get(f"{base}/static/{asset.relative_to(site / 'web' / 'static').as_posix()}")
            assert got.status_code == 200 and got.content == asset.read_bytes(), asset
        unit = httpx.get(f"{base}/api/v1/registry/units/31117", params={"on": "2025-06-30"})
        assert unit.status_code == 200, unit.text
        assert "Cái Khế" in unit.text  # the bundled table of units before 1 July 2025, read from the wheel
    finally:
        server.terminate()
        server.wait(timeout=30)
