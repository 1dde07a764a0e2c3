from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hopnhat.portal.simulator import running_simulator


class Sim:
    """The running simulator, driven the way an operator would: over its admin HTTP endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def faults(self, **faults: Any) -> None:
        self.http.post("/admin/faults", json=faults).raise_for_status()

    def clear(self) -> None:
        self.http.delete("/admin/faults").raise_for_status()

    def config(self, **behaviour: Any) -> None:
        self.http.post("/admin/config", json=behaviour).raise_for_status()

    def applied(self) -> list[dict[str, Any]]:
        """What the portal APPLIED, in arrival order (repeats it absorbed are not in it)."""
        response = self.http.get("/admin/applied", params={"limit": 100000})
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    def calls(self) -> list[dict[str, Any]]:
        response = self.http.get("/admin/calls", params={"limit": 100000})
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    def dossier_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["service"] == "DongBoHoSoMC"]

    def stats(self) -> dict[str, int]:
        response = self.http.get("/admin/stats")
        response.raise_for_status()
        data: dict[str, int] = response.json()
        return data


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    with running_simulator(tmp_path / "portal-sim.db") as url:
        s = Sim(url)
        yield s
        s.http.close()
