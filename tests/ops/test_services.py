"""SIGTERM, as systemd sends it, to each long-running command: the current unit of work is finished and committed,
and the command exits 0. (``sync run --watch``: tests/sync/test_watch.py stops it in the middle of a run.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.continuity import service as continuity
from hopnhat.continuity.models import ProbeResult
from hopnhat.continuity.schemas import ProbeIn, SystemIn
from hopnhat.db import make_engine, session_scope
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.roles import Role
from hopnhat.portal.mapping import to_portal
from hopnhat.portal.simulator import running_simulator
from hopnhat.store.models import OutboxEvent
from tests.continuity.servers import LOOPBACK, LOOPBACK_NETWORKS, TcpServer
from tests.http_support import free_port
from tests.identity_support import token_for
from tests.ops.support import start, terminate, wait_until
from tests.portal.conftest import Sim
from tests.portal.factories import make_outbox


def _applied_key(row: dict[str, Any]) -> tuple[str, ...]:
    """What the portal applied, as the portal tells records apart (the protocol has no idempotency key)."""
    if row["service"] == "DongBoHoSoMC":
        return (row["MaHoSo"], "dossier")
    return (row["MaHoSo"], "step", row["data"]["ThoiDiemXuLy"], str(row["data"]["TrangThai"]))


def _event_key(event: OutboxEvent) -> tuple[str, ...]:
    if event.kind == "dossier":
        return (event.dossier_code, "dossier")
    _, record = to_portal(event.kind, event.payload)
    return (event.dossier_code, "step", record["ThoiDiemXuLy"], str(record["TrangThai"]))


def test_portal_relay_finishes_its_batch_and_exits_0_on_sigterm(store_url: str, tmp_path: Path) -> None:
    engine = make_engine(store_url)
    with session_scope(engine) as session:
        make_outbox(session, dossiers=30, steps=2, prefix="SIG")
    with running_simulator(tmp_path / "portal-sim.db") as url:
        sim = Sim(url)
        sim.faults(delay_ms=30)  # a portal that takes its time: the signal lands while a batch is on the wire
        relay = start(store_url, "portal", "relay", "--url", url, "--batch", "6", "--workers", "2")
        delivered = OutboxEvent.state == "delivered"
        wait_until(engine, relay, lambda s: (s.scalar(select(func.count()).where(delivered)) or 0) >= 6)
        out, _ = terminate(relay)
        assert "stopped" in out
        applied = {_applied_key(row) for row in sim.applied()}
        sim.http.close()
    with Session(engine) as session:
        recorded = {_event_key(e) for e in session.scalars(select(OutboxEvent).where(delivered))}
    # Every event the portal took is recorded delivered here (the batch on the wire was finished and committed),
    # and nothing is recorded that the portal did not take.
    assert len(recorded) >= 6
    assert recorded == applied
    engine.dispose()


def test_monitor_records_its_cycle_and_exits_0_on_sigterm(store_url: str) -> None:
    engine = make_engine(store_url)
    server = TcpServer()
    try:
        with session_scope(engine) as session:
            continuity.create_system(session, SystemIn(code="ct-ioc", name="Trung tâm IOC"))
            probe = ProbeIn(name="ioc", kind="tcp", target=server.target, period_s=1)
            continuity.add_probe(session, "ct-ioc", probe, LOOPBACK)
        monitor = start(
            store_url, "monitor", "--interval", "0.5", env={"HOPNHAT_PROBE_ALLOWED_NETWORKS": LOOPBACK_NETWORKS}
        )
        wait_until(engine, monitor, lambda s: (s.scalar(select(func.count()).select_from(ProbeResult)) or 0) >= 2)
        out, _ = terminate(monitor)
        assert "monitor stopped" in out
        with Session(engine) as session:
            results = session.scalars(select(ProbeResult)).all()
        assert len(results) >= 2 and all(r.ok for r in results)
    finally:
        server.stop()
        engine.dispose()


def test_serve_seals_the_last_requests_audit_entries_and_exits_0_on_sigterm(store_url: str) -> None:
    engine = make_engine(store_url)
    token = token_for(engine, Role.DEPARTMENT_OPERATOR, scopes="write")
    port = free_port()
    server = start(store_url, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, server.communicate()[1]
        time.sleep(0.2)
    created = httpx.post(
        f"{base}/api/v1/continuity/systems",
        json={"code": "ct-dvc", "name": "Cổng dịch vụ công"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    terminate(server)  # at once: before the sealer's next round
    with Session(engine) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.object_id == "ct-dvc")).all()
    assert entries and all(e.seq is not None for e in entries), "the last request's entry was not chained"
    engine.dispose()
