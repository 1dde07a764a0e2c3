"""Health: liveness and readiness over real HTTP against a PostgreSQL that goes down and comes back; the metrics
of the sync runs, quarantine, relay and request latency; readiness failing on a relay too far behind."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hopnhat.app import create_app
from hopnhat.config import get_settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.roles import Role
from hopnhat.store.models import OutboxEvent
from hopnhat.sync.models import QuarantinedRecord, SyncRun
from tests.http_support import free_port
from tests.identity_support import token_for
from tests.ops.support import HOPNHAT, private_cluster


def _until(check: object, seconds: float = 40) -> httpx.Response:
    """Poll ``check`` (a callable returning a response or None) until it gives a response; fail at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            got = check()  # type: ignore[operator]
        except httpx.TransportError:
            got = None
        if got is not None:
            return got  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, "never got there"
        time.sleep(0.2)


def test_readiness_fails_while_postgresql_is_stopped_and_passes_when_it_is_back(tmp_path: Path) -> None:
    with private_cluster() as pg:
        engine = make_engine(pg.url)
        ensure_schema(engine)
        engine.dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [HOPNHAT, "--db", pg.url, "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _until(lambda: r if (r := httpx.get(f"{base}/api/v1/health")).status_code == 200 else None)
            ready = httpx.get(f"{base}/api/v1/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"
            assert set(ready.json()["checks"]) == {"store", "schema", "relay", "sync"}

            pg.stop()
            down = httpx.get(f"{base}/api/v1/health/ready")
            assert down.status_code == 503
            assert down.json()["checks"]["store"]["ok"] is False
            assert httpx.get(f"{base}/api/v1/health").status_code == 200  # alive, not ready: do not restart it

            pg.start()
            back = _until(lambda: r if (r := httpx.get(f"{base}/api/v1/health/ready")).status_code == 200 else None)
            assert back.json()["status"] == "ready"
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_metrics_show_sync_runs_quarantine_relay_and_latency_and_readiness_watches_the_relay(
    store_url: str,
) -> None:
    engine = make_engine(store_url)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        s.add_all(
            [
                SyncRun(started_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=1), state="done"),
                SyncRun(started_at=now - timedelta(minutes=30), finished_at=now - timedelta(minutes=20), state="done"),
            ]
        )
        for n in range(3):
            s.add(QuarantinedRecord(source="haugiang", source_id=f"HG-{n}", payload={}, reasons=["no unit"]))
        for n, (state, age) in enumerate([("pending", 7200), ("pending", 60), ("dead", 9000), ("delivered", 9000)]):
            s.add(
                OutboxEvent(
                    dossier_code=f"D-{n}",
                    province_code="92",
                    seq=1,
                    kind="status",
                    payload={},
                    idempotency_key=f"k-{n}",
                    state=state,
                    created_at=now - timedelta(seconds=age),
                )
            )
    token = token_for(engine, Role.DEPARTMENT_OPERATOR, scopes="read")
    settings = get_settings(database_url=store_url)
    client = TestClient(create_app(settings, engine))
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if not line.startswith("#")}
    assert lines['hopnhat_sync_runs{state="done"}'] == 2
    assert lines['hopnhat_quarantine_open{source="haugiang"}'] == 3
    assert lines["hopnhat_relay_pending"] == 2
    assert lines["hopnhat_relay_dead_letters"] == 1
    assert 7100 < lines["hopnhat_relay_lag_seconds"] < 7400
    assert lines['hopnhat_request_duration_seconds_count{method="GET",route="/api/v1/health",status="2xx"}'] >= 1
    assert "hopnhat_incidents_open" in text  # the monitor's gauges are still there

    # The oldest undelivered event is two hours old: over the one-hour default, the relay is not keeping up.
    lagging = client.get("/api/v1/health/ready")
    assert lagging.status_code == 503
    assert lagging.json()["checks"]["relay"]["ok"] is False
    assert lagging.json()["checks"]["sync"]["ok"] is True
    relaxed = TestClient(create_app(get_settings(database_url=store_url, ready_relay_lag_seconds=10800), engine))
    assert relaxed.get("/api/v1/health/ready").status_code == 200
    with session_scope(engine) as s:
        s.add(SyncRun(started_at=now, finished_at=now, state="failed"))
    failed = relaxed.get("/api/v1/health/ready").json()
    assert failed["status"] == "not_ready" and failed["checks"]["sync"]["ok"] is False
    engine.dispose()
