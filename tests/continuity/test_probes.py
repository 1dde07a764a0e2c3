"""Probes against real servers on 127.0.0.1 that each test starts and stops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hopnhat.continuity.probes import heartbeat_check, http_check, tcp_check
from tests.continuity.servers import LOOPBACK, HttpServer, TcpServer, free_port, self_signed


@pytest.fixture
def web() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.stop()


def test_http_up_checks_status_and_body(web: HttpServer) -> None:
    outcome = http_check(web.url + "/", body_contains="hopnhat OK", allow=LOOPBACK)
    assert outcome.ok, outcome.detail
    assert outcome.latency_ms is not None and outcome.latency_ms > 0


def test_http_wrong_status_or_missing_text_is_down(web: HttpServer) -> None:
    broken = http_check(web.url + "/broken", allow=LOOPBACK)
    assert not broken.ok and "status 500" in broken.detail
    missing = http_check(web.url + "/", body_contains="Cổng dịch vụ công", allow=LOOPBACK)
    assert not missing.ok and "body lacks" in missing.detail


def test_http_down_when_server_stops() -> None:
    server = HttpServer()
    url = server.url
    assert http_check(url, allow=LOOPBACK).ok
    server.stop()
    outcome = http_check(url, timeout=2, allow=LOOPBACK)
    assert not outcome.ok and outcome.detail.startswith("unreachable")


def test_http_slow_answer_breaks_latency_threshold(web: HttpServer) -> None:
    slow = http_check(web.url + "/slow", max_latency_ms=150, allow=LOOPBACK)
    assert not slow.ok and "slow" in slow.detail
    assert http_check(web.url + "/slow", max_latency_ms=10_000, allow=LOOPBACK).ok


@pytest.mark.parametrize(("days", "ok"), [(3, False), (90, True)])
def test_tls_certificate_expiry(tmp_path: Path, days: int, ok: bool) -> None:
    server = HttpServer(cert=self_signed(tmp_path, days))
    try:
        outcome = http_check(server.url + "/", min_cert_days=14, allow=LOOPBACK)
    finally:
        server.stop()
    assert outcome.ok is ok, outcome.detail
    assert outcome.cert_days is not None and days - 1 < outcome.cert_days <= days
    if not ok:
        assert "certificate expires in" in outcome.detail


def test_tcp_up_and_down() -> None:
    server = TcpServer()
    assert tcp_check(server.target, allow=LOOPBACK).ok
    server.stop()
    assert not tcp_check(server.target, timeout=2, allow=LOOPBACK).ok
    assert not tcp_check(f"127.0.0.1:{free_port()}", timeout=2, allow=LOOPBACK).ok
    assert "host:port" in tcp_check("no-port", allow=LOOPBACK).detail


def test_heartbeat_missing_for_longer_than_period_is_down() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2025, 7, 1, 8, tzinfo=UTC)
    assert heartbeat_check(now - timedelta(seconds=30), 60, now).ok
    assert not heartbeat_check(now - timedelta(seconds=61), 60, now).ok
    assert not heartbeat_check(None, 60, now).ok
