"""What a health probe may reach: the allow-list of networks, the resolver, and the check of one target.

A probe is a request the server makes on an operator's behalf, so without a guard it reaches whatever the server
can: the cloud metadata service (169.254.169.254), admin ports on 127.0.0.1, and ``body_contains`` turns the answer
into an oracle. The guard runs twice: when a probe is saved (:func:`hopnhat.continuity.service.add_probe`) and when
it connects (:mod:`hopnhat.continuity.probes`), where the checked address is the one connected to, so a name that
resolves differently in between (DNS rebinding) cannot slip through.

::

    InvalidInput (422)
    ├── TargetRefused      an address of the target is outside the allowed networks
    └── TargetUnresolved   the target's name does not resolve

Both are :class:`~hopnhat.errors.InvalidInput`, not ``Forbidden``: the target is a value the user sent that this
deployment's setting does not accept, whoever sends it; 403 is kept for a principal lacking a right.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import httpx

from hopnhat.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "HOPNHAT_PROBE_ALLOWED_NETWORKS"
GLOBAL = "global"


class TargetRefused(InvalidInput):
    """An address the target resolves to is not allowed; names the host, the address and the reason."""

    code = "target_refused"

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"probe target {host!r}: refused address {address} ({reason})")
        self.host = host
        self.address = address
        self.reason = reason


class TargetUnresolved(InvalidInput):
    """The target's name does not resolve, so it cannot be checked (and would not be reached)."""

    code = "target_unresolved"

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"probe target {host!r} does not resolve ({reason})")
        self.host = host


def _address(text: str) -> IPAddress:
    """An address as resolved, with an IPv4-mapped IPv6 address (::ffff:127.0.0.1) read as the IPv4 it carries."""
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _kind(ip: IPAddress) -> str | None:
    """Why ``global`` does not cover ``ip``, or None when it is a globally routable address."""
    for name, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),  # is_global is True for some multicast ranges
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return f"{name} address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local address"  # deprecated fec0::/10, still routed inside some networks
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None and not ip.sixtofour.is_global:
        return "6to4 address of a non-global IPv4 address"
    if not ip.is_global:
        return "private or non-global address"
    return None


@dataclass(frozen=True)
class AllowList:
    """The networks probes may reach, read from the ``probe_allowed_networks`` setting.

    An address is allowed when a listed network contains it, or, with ``global`` listed, when it is globally
    routable. Loopback, link-local, multicast, unspecified and reserved addresses pass only through a listed
    network that contains them (``127.0.0.0/8``), never through ``global``.
    """

    networks: tuple[IPNetwork, ...] = ()
    any_global: bool = False

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Comma-separated CIDRs, single addresses and the word ``global``; raises InvalidInput naming a bad entry."""
        networks: list[IPNetwork] = []
        any_global = False
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            if entry.lower() == GLOBAL:
                any_global = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError as exc:
                raise InvalidInput(
                    f"probe_allowed_networks: {entry!r} is not a network, an address or 'global' ({exc})"
                ) from None
        return cls(tuple(networks), any_global)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` is refused, or None when it is allowed."""
        try:
            ip = _address(address)
        except ValueError:
            return "not an IP address"
        if any(ip.version == net.version and ip in net for net in self.networks):
            return None
        kind = _kind(ip)
        if kind is None and self.any_global:
            return None
        return f"{kind or 'global address'} not in {SETTING}"

    def allows(self, address: str) -> bool:
        return self.refusal(address) is None


class Resolver(Protocol):
    """Turns a host name into the addresses a connection would try, in order; raises OSError when it cannot."""

    def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``): hosts file, DNS, as any other program sees them."""

    def resolve(self, host: str, port: int) -> list[str]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


# A module global rather than a ContextVar: the monitor checks in a thread pool, whose threads do not inherit the
# context of the thread that replaced the resolver.
_resolver: Resolver = SystemResolver()
_lock = threading.Lock()


def current_resolver() -> Resolver:
    return _resolver


@contextmanager
def set_resolver(resolver: Resolver) -> Iterator[Resolver]:
    """Resolve every probe target through ``resolver`` inside the block (tests); the previous one comes back after."""
    global _resolver
    with _lock:
        previous, _resolver = _resolver, resolver
    try:
        yield resolver
    finally:
        with _lock:
            _resolver = previous


def resolve(host: str, port: int, resolver: Resolver | None = None) -> list[str]:
    """The addresses of ``host``: an IP literal is its own answer, a name asks the resolver; raises TargetUnresolved."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        addresses = (resolver or _resolver).resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise TargetUnresolved(host, str(exc) or type(exc).__name__) from None
    if not addresses:
        raise TargetUnresolved(host, "no address")
    return addresses


def check_target(host: str, port: int, allow: AllowList, resolver: Resolver | None = None) -> list[str]:
    """Resolve ``host`` and return its addresses if every one is allowed.

    Raises TargetRefused for the first refused address: a name that resolves to an allowed and a refused address is
    refused, as a client could be steered to either. Raises TargetUnresolved when the name does not resolve.
    """
    addresses = resolve(host, port, resolver)
    for address in addresses:
        reason = allow.refusal(address)
        if reason is not None:
            raise TargetRefused(host, address, reason)
    return addresses


def url_endpoint(url: str) -> tuple[str, int]:
    """The (host, port) an http:// or https:// URL connects to, parsed as httpx parses it (an IDN host in its ASCII
    form); raises InvalidInput for another URL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"probe target {url!r}: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidInput(f"probe target {url!r}: expected an http:// or https:// URL")
    if not parsed.raw_host:
        raise InvalidInput(f"probe target {url!r}: the URL names no host")
    if parsed.port is not None and not 0 < parsed.port <= 65535:
        raise InvalidInput(f"probe target {url!r}: the port is not a number from 1 to 65535")
    return parsed.raw_host.decode("ascii"), parsed.port or (443 if parsed.scheme == "https" else 80)


def tcp_endpoint(target: str) -> tuple[str, int]:
    """The (host, port) of a ``host:port`` target (``[v6]:port`` for an IPv6 address); raises InvalidInput."""
    host, _, port = target.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise InvalidInput(f"bad TCP target {target!r}: expected host:port")
    return host, int(port)


__all__ = [
    "AllowList",
    "Resolver",
    "SystemResolver",
    "TargetRefused",
    "TargetUnresolved",
    "check_target",
    "current_resolver",
    "resolve",
    "set_resolver",
    "tcp_endpoint",
    "url_endpoint",
]
