"""Probes reach only the networks of ``probe_allowed_networks``: checked when saved and again when connecting.

Names resolve through a fake resolver (:func:`netguard.set_resolver`); the servers are real, on loopback, and count
what they were asked, so "not fetched" is a count of zero requests, not an absence of errors.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.continuity import monitor, netguard, service
from hopnhat.continuity import repository as repo
from hopnhat.continuity.netguard import AllowList, TargetRefused, TargetUnresolved
from hopnhat.continuity.probes import MAX_REDIRECTS, http_check, tcp_check
from hopnhat.continuity.schemas import ProbeIn, SystemIn
from hopnhat.db import make_engine, session_scope
from hopnhat.errors import InvalidInput
from tests.continuity.servers import LOOPBACK, HttpServer, TcpServer, self_signed
from tests.identity_support import admin_headers

SHIPPED = str(Settings.model_fields["probe_allowed_networks"].default)
DEFAULT = AllowList.parse(SHIPPED)
WITH_LOOPBACK = AllowList.parse(SHIPPED + ",127.0.0.0/8")


class FakeDns:
    """A resolver answering from a table the test edits; ``asked`` lists every name it was asked, in order."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


@pytest.fixture
def dns() -> Iterator[FakeDns]:
    with netguard.set_resolver(FakeDns()) as fake:
        assert isinstance(fake, FakeDns)
        yield fake


@pytest.fixture
def web() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.stop()


def _system(db: Session) -> None:
    service.create_system(db, SystemIn(code="ct-lgsp", name="Nền tảng LGSP", criticality="critical"))


# --- the allow-list ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("172.20.0.1", True),
        ("192.168.1.10", True),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback is loopback
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # is_global, but multicast
        ("ff02::1", False),
        ("240.0.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT: neither listed nor global
        ("fd00::1", False),
        ("not-an-ip", False),
    ],
)
def test_shipped_allow_list(address: str, allowed: bool) -> None:
    assert DEFAULT.allows(address) is allowed


def test_listed_network_admits_what_global_never_does() -> None:
    allow = AllowList.parse(" 127.0.0.0/8 , 169.254.169.254, ")
    assert allow.allows("127.0.0.1") and allow.allows("169.254.169.254")
    assert not allow.allows("169.254.169.253") and not allow.allows("8.8.8.8")  # no 'global' listed
    assert AllowList.parse("").allows("10.0.0.1") is False


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.1/8", "intranet", "global/8"])
def test_malformed_entry_is_named(entry: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(f"probe_allowed_networks: '{entry}'")):
        AllowList.parse(f"10.0.0.0/8,{entry},global")


def test_set_resolver_restores_the_previous_one() -> None:
    before = netguard.current_resolver()
    with netguard.set_resolver(FakeDns()) as fake:
        assert netguard.current_resolver() is fake
    assert netguard.current_resolver() is before


def test_check_target_refuses_a_name_with_any_refused_address(dns: FakeDns) -> None:
    dns.table["lgsp.example"] = ["10.0.0.5", "127.0.0.1"]
    with pytest.raises(TargetRefused) as refused:
        netguard.check_target("lgsp.example", 443, DEFAULT)
    assert (refused.value.host, refused.value.address) == ("lgsp.example", "127.0.0.1")
    assert "loopback" in refused.value.reason
    dns.table["lgsp.example"] = ["10.0.0.5", "10.0.0.6"]
    assert netguard.check_target("lgsp.example", 443, DEFAULT) == ["10.0.0.5", "10.0.0.6"]
    with pytest.raises(TargetUnresolved, match=r"'nowhere\.example' does not resolve"):
        netguard.check_target("nowhere.example", 443, DEFAULT)


# --- saving a probe ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target", "host", "address", "reason"),
    [
        ("http", "http://169.254.169.254/latest/meta-data/", "169.254.169.254", "169.254.169.254", "link-local"),
        ("http", "https://127.0.0.1:8443/admin", "127.0.0.1", "127.0.0.1", "loopback"),
        ("tcp", "127.0.0.1:5432", "127.0.0.1", "127.0.0.1", "loopback"),
        ("tcp", "[::1]:22", "::1", "::1", "loopback"),
        ("http", "http://lgsp.example/health", "lgsp.example", "127.0.0.1", "loopback"),
        ("tcp", "lgsp.example:443", "lgsp.example", "127.0.0.1", "loopback"),
    ],
)
def test_saving_a_probe_to_a_refused_address_names_it(
    db: Session, dns: FakeDns, kind: str, target: str, host: str, address: str, reason: str
) -> None:
    _system(db)
    dns.table["lgsp.example"] = ["10.0.0.5", "127.0.0.1"]  # one allowed, one refused address: refused
    with pytest.raises(TargetRefused) as refused:
        service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind=kind, target=target), DEFAULT)
    message = refused.value.detail
    assert f"probe target {host!r}" in message and f"refused address {address}" in message and reason in message
    assert "HOPNHAT_PROBE_ALLOWED_NETWORKS" in message  # says which setting would admit it
    assert refused.value.status_code == 422
    assert list(repo.probes(db)) == []


def test_saving_a_probe_to_an_allowed_address_works_and_updates_are_checked(db: Session, dns: FakeDns) -> None:
    _system(db)
    dns.table["lgsp.example"] = ["10.0.0.5"]
    saved = service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="http", target="https://lgsp.example/"), DEFAULT)
    service.add_probe(db, "ct-lgsp", ProbeIn(name="t", kind="tcp", target="10.20.30.40:1521"), DEFAULT)
    service.add_probe(db, "ct-lgsp", ProbeIn(name="hb", kind="heartbeat", target="sync"), AllowList())
    assert sorted(p.name for p in repo.probes(db)) == ["hb", "p", "t"]
    with pytest.raises(TargetRefused, match=r"169\.254\.169\.254"):  # overwriting the probe is checked the same way
        service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="http", target="http://169.254.169.254/"), DEFAULT)
    assert saved.target == "https://lgsp.example/"


def test_saving_a_probe_to_a_name_that_does_not_resolve_or_a_bad_target_is_refused(db: Session, dns: FakeDns) -> None:
    _system(db)
    with pytest.raises(TargetUnresolved, match=r"'nowhere\.example' does not resolve"):
        service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="http", target="http://nowhere.example/"), DEFAULT)
    with pytest.raises(InvalidInput, match="expected host:port"):
        service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="tcp", target="10.0.0.1"), DEFAULT)
    with pytest.raises(InvalidInput, match="names no host"):
        service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="http", target="http:///x"), DEFAULT)


def test_loopback_is_accepted_when_listed(db: Session, dns: FakeDns) -> None:
    _system(db)
    dns.table["local.example"] = ["127.0.0.1", "::1"]
    service.add_probe(db, "ct-lgsp", ProbeIn(name="a", kind="http", target="http://127.0.0.1:8080/"), WITH_LOOPBACK)
    service.add_probe(db, "ct-lgsp", ProbeIn(name="b", kind="tcp", target="local.example:5432"), LOOPBACK)
    assert len(repo.probes(db)) == 2
    with pytest.raises(TargetRefused, match="link-local"):  # listing loopback admits nothing else
        service.add_probe(db, "ct-lgsp", ProbeIn(name="c", kind="tcp", target="169.254.169.254:80"), WITH_LOOPBACK)


# --- connecting ----------------------------------------------------------------------------------------------------


def test_connects_to_the_checked_address_with_the_name_in_the_host_header(web: HttpServer, dns: FakeDns) -> None:
    # The system resolver knows no "portal.example": the answer can only come from the checked address.
    dns.table["portal.example"] = ["127.0.0.1"]
    outcome = http_check(f"http://portal.example:{web.port}/", body_contains="hopnhat OK", allow=LOOPBACK)
    assert outcome.ok, outcome.detail
    assert web.seen == [("/", f"portal.example:{web.port}")]
    assert dns.asked == ["portal.example"]  # resolved once, for the check; nothing resolved it again


def test_probe_whose_name_now_resolves_to_a_refused_address_is_not_fetched(
    db: Session, web: HttpServer, dns: FakeDns
) -> None:
    _system(db)
    dns.table["portal.example"] = ["10.0.0.5"]  # allowed when saved
    target = f"http://portal.example:{web.port}/"
    probe = service.add_probe(
        db, "ct-lgsp", ProbeIn(name="portal", kind="http", target=target, body_contains="OK"), DEFAULT
    )
    dns.table["portal.example"] = ["127.0.0.1"]  # rebound: the name now points at the server's loopback
    result = service.run_probe(db, probe, allow=DEFAULT)
    assert not result.ok
    assert result.detail.startswith("refused address 127.0.0.1 for portal.example: loopback address")
    assert web.seen == []


def test_monitor_does_not_fetch_a_probe_whose_name_now_resolves_to_a_refused_address(
    store_url: str, dns: FakeDns
) -> None:
    """Through the monitor's worker threads: the fake resolver is seen there too."""
    engine = make_engine(store_url)
    web = HttpServer()
    try:
        dns.table["portal.example"] = ["10.0.0.5"]
        with session_scope(engine) as session:
            service.create_system(session, SystemIn(code="ct-portal", name="Cổng thông tin"))
            probe = ProbeIn(name="portal", kind="http", target=f"http://portal.example:{web.port}/", fail_threshold=1)
            service.add_probe(session, "ct-portal", probe, DEFAULT)
        dns.table["portal.example"] = ["127.0.0.1"]
        [(name, ok, detail)] = monitor.run_cycle(engine, force=True, allow=DEFAULT)
        assert (name, ok) == ("portal", False)
        assert detail.startswith("refused address 127.0.0.1 for portal.example")
        assert web.seen == []
        with session_scope(engine) as session:
            [incident] = service.list_incidents(session, open_only=True)
            assert "refused address" in incident.cause and "hopnhat OK" not in incident.cause
    finally:
        web.stop()
        engine.dispose()


def test_tcp_connects_to_the_checked_address_and_refuses_a_rebound_name(dns: FakeDns) -> None:
    server = TcpServer()
    try:
        dns.table["db.example"] = ["127.0.0.1"]
        assert tcp_check(f"db.example:{server.port}", allow=LOOPBACK).ok
        outcome = tcp_check(f"db.example:{server.port}", allow=DEFAULT)
        assert not outcome.ok and outcome.detail.startswith("refused address 127.0.0.1 for db.example")
        unresolved = tcp_check(f"gone.example:{server.port}", allow=LOOPBACK)
        assert not unresolved.ok and "does not resolve" in unresolved.detail
    finally:
        server.stop()


def test_certificate_is_read_from_the_checked_address(tmp_path: Path, dns: FakeDns) -> None:
    server = HttpServer(cert=self_signed(tmp_path, 90))
    try:
        dns.table["secure.example"] = ["127.0.0.1"]
        outcome = http_check(f"https://secure.example:{server.port}/", min_cert_days=14, allow=LOOPBACK)
    finally:
        server.stop()
    assert outcome.ok, outcome.detail
    assert outcome.cert_days is not None and 89 < outcome.cert_days <= 90
    assert server.seen == [("/", f"secure.example:{server.port}")]


# --- redirects -----------------------------------------------------------------------------------------------------


def test_redirect_to_a_refused_address_is_not_followed(web: HttpServer) -> None:
    inside = HttpServer(host="127.0.0.2")  # stands for an address the list does not hold
    try:
        allow = AllowList.parse("127.0.0.1/32")
        outcome = http_check(f"{web.url}/redirect?to={inside.url}/", body_contains="hopnhat OK", allow=allow)
        assert not outcome.ok
        assert outcome.detail.startswith("redirect 1: refused address 127.0.0.2 for 127.0.0.2")
        assert inside.seen == []
        meta = http_check(f"{web.url}/redirect?to=http://169.254.169.254/latest/meta-data/", allow=allow)
        assert not meta.ok and "refused address 169.254.169.254" in meta.detail
        # The same redirect is followed when the list holds its target.
        followed = http_check(
            f"{web.url}/redirect?to={inside.url}/", body_contains="hopnhat OK", allow=AllowList.parse("127.0.0.0/30")
        )
        assert followed.ok, followed.detail
        assert inside.seen == [("/", f"127.0.0.2:{inside.port}")]
    finally:
        inside.stop()


def test_redirect_to_a_name_is_resolved_and_checked(web: HttpServer, dns: FakeDns) -> None:
    dns.table["portal.example"] = ["127.0.0.1"]
    dns.table["metadata.example"] = ["169.254.169.254"]
    outcome = http_check(f"http://portal.example:{web.port}/redirect?to=http://metadata.example/", allow=WITH_LOOPBACK)
    assert not outcome.ok and "refused address 169.254.169.254 for metadata.example" in outcome.detail
    relative = http_check(f"http://portal.example:{web.port}/redirect?to=/", allow=WITH_LOOPBACK)
    assert relative.ok, relative.detail
    assert dns.asked == ["portal.example", "metadata.example", "portal.example", "portal.example"]


def test_redirects_stop_after_the_limit(web: HttpServer) -> None:
    outcome = http_check(f"{web.url}/loop", allow=LOOPBACK)
    assert not outcome.ok and outcome.detail == f"more than {MAX_REDIRECTS} redirects"
    assert len(web.seen) == MAX_REDIRECTS + 1


# --- the API -------------------------------------------------------------------------------------------------------


def test_api_refuses_a_probe_to_a_refused_address(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        settings = Settings(database_url=store_url, probe_allowed_networks=SHIPPED)
        web_app = create_app(settings, engine=engine)
        client = TestClient(web_app, headers=admin_headers(engine))  # probes are the administrator's
        api = "/api/v1/continuity"
        created = client.post(f"{api}/systems", json={"code": "ct-portal", "name": "Cổng"})
        assert created.status_code == 201, created.text
        probe = {"name": "meta", "kind": "http", "target": "http://169.254.169.254/latest/meta-data/"}
        assert TestClient(web_app).put(f"{api}/systems/ct-portal/probes", json=probe).status_code == 401
        refused = client.put(f"{api}/systems/ct-portal/probes", json=probe)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "target_refused"
        assert "'169.254.169.254'" in refused.json()["detail"] and "link-local" in refused.json()["detail"]
        loopback = client.put(f"{api}/systems/ct-portal/probes", json={**probe, "target": "http://127.0.0.1:9/"})
        assert loopback.status_code == 422 and "loopback" in loopback.json()["detail"]
        assert client.get(f"{api}/systems/ct-portal/probes").json() == []
        allowed = client.put(f"{api}/systems/ct-portal/probes", json={**probe, "target": "http://10.0.0.5/"})
        assert allowed.status_code == 200, allowed.text
    finally:
        engine.dispose()
