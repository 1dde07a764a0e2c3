"""The checks themselves, free of the store: each returns an :class:`Outcome` and never raises for a down target."""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Outcome:
    ok: bool
    latency_ms: float | None
    detail: str
    cert_days: float | None = None


_TIME = re.compile(rb"(\x17\x0d(\d{12})Z|\x18\x0f(\d{14})Z)")


def _not_after(der: bytes) -> datetime | None:
    """notAfter of a DER certificate: the second time value of its validity (no ``cryptography`` needed)."""
    found = _TIME.findall(der)
    if len(found) < 2:
        return None
    _, utc, gen = found[1]
    if utc:
        text = utc.decode()
        year = int(text[:2])
        return datetime.strptime(f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}", "%Y%m%d%H%M%S").replace(
            tzinfo=UTC
        )
    return datetime.strptime(gen.decode(), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def cert_days_left(host: str, port: int, timeout: float, now: datetime | None = None) -> float | None:
    """Days until the server's certificate expires; the chain is not verified (self-signed internal servers)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    expires = _not_after(der) if der else None
    if expires is None:
        return None
    return (expires - (now or datetime.now(UTC))).total_seconds() / 86400


def http_check(
    url: str,
    expect_status: int = 200,
    body_contains: str = "",
    max_latency_ms: float | None = None,
    min_cert_days: int | None = None,
    timeout: float = 5.0,
) -> Outcome:
    """GET ``url``: down on a connection error, an unexpected status, a missing text, a slow answer or a
    certificate expiring within ``min_cert_days``."""
    started = time.perf_counter()
    try:
        with httpx.Client(verify=False, timeout=timeout, follow_redirects=True) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"unreachable: {type(exc).__name__}")
    latency = (time.perf_counter() - started) * 1000
    problems: list[str] = []
    if response.status_code != expect_status:
        problems.append(f"status {response.status_code}, expected {expect_status}")
    if body_contains and body_contains not in response.text:
        problems.append(f"body lacks {body_contains!r}")
    if max_latency_ms is not None and latency > max_latency_ms:
        problems.append(f"slow: {latency:.0f} ms > {max_latency_ms:.0f} ms")
    days: float | None = None
    parts = urlsplit(url)
    if parts.scheme == "https" and min_cert_days is not None:
        try:
            days = cert_days_left(parts.hostname or "", parts.port or 443, timeout)
        except OSError as exc:
            problems.append(f"certificate unreadable: {type(exc).__name__}")
        else:
            if days is None:
                problems.append("certificate expiry unreadable")
            elif days < min_cert_days:
                problems.append(f"certificate expires in {days:.1f} days (< {min_cert_days})")
    return Outcome(not problems, latency, "; ".join(problems) or f"HTTP {response.status_code}", days)


def tcp_check(target: str, timeout: float = 5.0, max_latency_ms: float | None = None) -> Outcome:
    """Connect to ``host:port``."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return Outcome(False, None, f"bad TCP target {target!r}: expected host:port")
    started = time.perf_counter()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        return Outcome(False, None, f"connect failed: {type(exc).__name__}")
    latency = (time.perf_counter() - started) * 1000
    if max_latency_ms is not None and latency > max_latency_ms:
        return Outcome(False, latency, f"slow: {latency:.0f} ms > {max_latency_ms:.0f} ms")
    return Outcome(True, latency, "connected")


def heartbeat_check(last_seen: datetime | None, period_s: int, now: datetime) -> Outcome:
    """Up while the last report-in is younger than ``period_s``."""
    if last_seen is None:
        return Outcome(False, None, "no heartbeat ever received")
    age = (now - last_seen).total_seconds()
    if age > period_s:
        return Outcome(False, None, f"heartbeat missing for {age:.0f} s (period {period_s} s)")
    return Outcome(True, None, f"heartbeat {age:.0f} s ago")
