"""The checks themselves, free of the store: each returns an :class:`Outcome` and never raises for a down target."""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from hopnhat.continuity import netguard
from hopnhat.continuity.netguard import AllowList, Resolver, TargetRefused, TargetUnresolved
from hopnhat.errors import InvalidInput


@dataclass(frozen=True)
class Outcome:
    ok: bool
    latency_ms: float | None
    detail: str
    cert_days: float | None = None


MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

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


def cert_days_left(host: str, port: int, timeout: float, now: datetime | None = None, *, address: str) -> float | None:
    """Days until the certificate ``host`` presents at ``address`` expires (SNI ``host``, connecting to the checked
    ``address`` only); the chain is not verified (self-signed internal servers)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    expires = _not_after(der) if der else None
    if expires is None:
        return None
    return (expires - (now or datetime.now(UTC))).total_seconds() / 86400


def _guard(host: str, port: int, allow: AllowList, resolver: Resolver | None) -> list[str] | Outcome:
    """The checked addresses of ``host``, or the failed Outcome saying why none may be tried."""
    try:
        return netguard.check_target(host, port, allow, resolver)
    except TargetRefused as exc:
        return Outcome(False, None, f"refused address {exc.address} for {exc.host}: {exc.reason}")
    except TargetUnresolved:
        return Outcome(False, None, f"unreachable: {host} does not resolve")


def _get_pinned(client: httpx.Client, url: httpx.URL, addresses: list[str]) -> tuple[httpx.Response, str]:
    """GET ``url`` from the first of the checked ``addresses`` that accepts a connection, never from a fresh
    resolution: the URL carries the address, the Host header and TLS SNI carry the name. Returns (response,
    address)."""
    headers = {"Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    for address in addresses[:-1]:
        try:
            return client.get(url.copy_with(host=address), headers=headers, extensions=extensions), address
        except httpx.ConnectError:
            continue
    address = addresses[-1]
    return client.get(url.copy_with(host=address), headers=headers, extensions=extensions), address


def http_check(
    url: str,
    expect_status: int = 200,
    body_contains: str = "",
    max_latency_ms: float | None = None,
    min_cert_days: int | None = None,
    timeout: float = 5.0,
    *,
    allow: AllowList,
    resolver: Resolver | None = None,
) -> Outcome:
    """GET ``url``: down on a refused or unresolved address, a connection error, an unexpected status, a missing
    text, a slow answer or a certificate expiring within ``min_cert_days``.

    Every hop is resolved through ``resolver`` and checked against ``allow`` before it is connected to, and the
    connection goes to the checked address. Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each
    target checked the same way; a refused hop is reported without anything of the answer that pointed to it.
    """
    started = time.perf_counter()
    try:
        host, port = netguard.url_endpoint(url)
    except InvalidInput as exc:
        return Outcome(False, None, exc.detail)
    origin = current = httpx.URL(url)
    checked = _guard(host, port, allow, resolver)
    if isinstance(checked, Outcome):
        return checked
    first_address = ""
    with httpx.Client(verify=False, timeout=timeout, follow_redirects=False) as client:
        for hop in range(MAX_REDIRECTS + 1):
            try:
                response, address = _get_pinned(client, current, checked)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return Outcome(False, None, f"unreachable: {type(exc).__name__}")
            first_address = first_address or address
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                break
            try:
                current = current.join(location)
                hop_host, hop_port = netguard.url_endpoint(str(current))
            except (httpx.InvalidURL, InvalidInput):
                return Outcome(False, None, f"redirect {hop + 1} to an invalid or non-HTTP URL")
            checked = _guard(hop_host, hop_port, allow, resolver)
            if isinstance(checked, Outcome):
                return Outcome(False, None, f"redirect {hop + 1}: {checked.detail}")
        else:
            return Outcome(False, None, f"more than {MAX_REDIRECTS} redirects")
    latency = (time.perf_counter() - started) * 1000
    problems: list[str] = []
    if response.status_code != expect_status:
        problems.append(f"status {response.status_code}, expected {expect_status}")
    if body_contains and body_contains not in response.text:
        problems.append(f"body lacks {body_contains!r}")
    if max_latency_ms is not None and latency > max_latency_ms:
        problems.append(f"slow: {latency:.0f} ms > {max_latency_ms:.0f} ms")
    days: float | None = None
    if origin.scheme == "https" and min_cert_days is not None:
        try:
            days = cert_days_left(host, port, timeout, address=first_address)
        except OSError as exc:
            problems.append(f"certificate unreadable: {type(exc).__name__}")
        else:
            if days is None:
                problems.append("certificate expiry unreadable")
            elif days < min_cert_days:
                problems.append(f"certificate expires in {days:.1f} days (< {min_cert_days})")
    return Outcome(not problems, latency, "; ".join(problems) or f"HTTP {response.status_code}", days)


def tcp_check(
    target: str,
    timeout: float = 5.0,
    max_latency_ms: float | None = None,
    *,
    allow: AllowList,
    resolver: Resolver | None = None,
) -> Outcome:
    """Connect to ``host:port`` at one of its checked addresses (in resolver order); refused like :func:`http_check`."""
    try:
        host, port = netguard.tcp_endpoint(target)
    except InvalidInput as exc:
        return Outcome(False, None, exc.detail)
    started = time.perf_counter()
    checked = _guard(host, port, allow, resolver)
    if isinstance(checked, Outcome):
        return checked
    failure: OSError | None = None
    for address in checked:
        try:
            with socket.create_connection((address, port), timeout=timeout):
                break
        except OSError as exc:
            failure = exc
    else:
        return Outcome(False, None, f"connect failed: {type(failure).__name__}")
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
