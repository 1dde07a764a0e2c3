"""Real components of the notices' tests: the SMTP server (aiosmtpd) and the SMS/Zalo gateway simulator, each run
as a process of its own, and dossiers that consent to notices."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hopnhat.portal.simulator import free_port

SINK = Path(__file__).with_name("smtp_sink.py")


class SmtpSink:
    """The SMTP server process; ``ids()`` are the Message-IDs it accepted, in arrival order (repeats included)."""

    def __init__(self, record: Path, delay_ms: int = 0, port: int | None = None) -> None:
        self.record = record
        self.delay_ms = delay_ms
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> SmtpSink:
        self.proc = subprocess.Popen(
            [sys.executable, str(SINK), str(self.port), str(self.record), str(self.delay_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def ids(self) -> list[str]:
        if not self.record.exists():
            return []
        return [line.split()[0] for line in self.record.read_text().splitlines() if line.strip()]


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "smtp.log").start()
    yield sink
    sink.stop()


class Gateway:
    """The gateway simulator process, driven over its admin HTTP endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def faults(self, **faults: Any) -> None:
        self.http.post("/admin/faults", json=faults).raise_for_status()

    def clear(self) -> None:
        self.http.delete("/admin/faults").raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.http.get("/admin/received").json()
        return rows

    def stats(self) -> dict[str, int]:
        found: dict[str, int] = self.http.get("/admin/stats").json()
        return found


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hopnhat.notices.simulator", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/admin/stats", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the gateway simulator did not start") from None
            time.sleep(0.05)
    g = Gateway(url)
    yield g
    g.http.close()
    proc.terminate()
    proc.wait(timeout=10)
