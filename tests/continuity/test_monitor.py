"""Incidents opened and closed by real probe runs, maintenance windows, heartbeats and uptime, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from hopnhat.continuity import service
from hopnhat.continuity.models import Probe
from hopnhat.continuity.probes import Outcome
from hopnhat.continuity.schemas import ProbeIn, SystemIn, SystemPatch
from hopnhat.errors import Conflict, InvalidInput, NotFound
from tests.continuity.servers import LOOPBACK, TcpServer

T0 = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam


def _system(db: Session, code: str = "ct-lgsp") -> None:
    service.create_system(db, SystemIn(code=code, name="Nền tảng LGSP", criticality="critical"))


def test_incident_opens_after_threshold_and_closes_on_recovery(db: Session) -> None:
    _system(db)
    server = TcpServer()
    port = server.port
    probe = service.add_probe(
        db,
        "ct-lgsp",
        ProbeIn(name="lgsp-tcp", kind="tcp", target=server.target, timeout_s=2, fail_threshold=2),
        LOOPBACK,
    )
    assert service.run_probe(db, probe, T0, LOOPBACK).ok
    server.stop()
    service.run_probe(db, probe, T0 + timedelta(minutes=1), LOOPBACK)
    assert service.list_incidents(db, open_only=True) == []  # one failure is below the threshold
    service.run_probe(db, probe, T0 + timedelta(minutes=2), LOOPBACK)
    [incident] = service.list_incidents(db, open_only=True)
    assert incident.opened_at == T0 + timedelta(minutes=2) and "lgsp-tcp" in incident.cause
    assert [s.state for s in service.system_status(db)] == ["down"]
    service.add_incident_note(db, incident.id, "Nhà cung cấp đang khởi động lại máy chủ")
    service.run_probe(db, probe, T0 + timedelta(minutes=3), LOOPBACK)  # still down: the same incident stays open
    assert len(service.list_incidents(db)) == 1

    server = TcpServer(port)  # the target comes back
    try:
        assert service.run_probe(db, probe, T0 + timedelta(minutes=4), LOOPBACK).ok
    finally:
        server.stop()
    [closed] = service.list_incidents(db)
    assert closed.closed_at == T0 + timedelta(minutes=4)
    assert "khởi động lại" in closed.notes and "recovered" in closed.notes
    assert [s.state for s in service.system_status(db)] == ["up"]


def test_maintenance_window_suppresses_incidents(db: Session) -> None:
    _system(db)
    probe = service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="heartbeat", fail_threshold=1, period_s=60))
    service.add_maintenance(db, "ct-lgsp", T0, T0 + timedelta(hours=1), "nâng cấp")
    service.record(db, probe, Outcome(False, None, "down"), T0 + timedelta(minutes=30))
    assert service.list_incidents(db) == []
    service.record(db, probe, Outcome(False, None, "down"), T0 + timedelta(hours=2))
    assert len(service.list_incidents(db, open_only=True)) == 1
    with pytest.raises(InvalidInput):
        service.add_maintenance(db, "ct-lgsp", T0, T0, "")


def test_missing_heartbeat_means_down(db: Session) -> None:
    _system(db, "ct-sync")
    probe = service.add_probe(
        db, "ct-sync", ProbeIn(name="sync-hb", kind="heartbeat", target="sync", period_s=600, fail_threshold=1)
    )
    assert not service.run_probe(db, probe, T0, LOOPBACK).ok  # never reported
    service.report_heartbeat(db, "sync", at=T0)
    assert service.run_probe(db, probe, T0 + timedelta(minutes=5)).ok
    assert service.list_incidents(db, open_only=True) == []
    assert not service.run_probe(db, probe, T0 + timedelta(minutes=11)).ok
    assert len(service.list_incidents(db, open_only=True)) == 1


def test_uptime_and_latency_percentiles_per_vietnam_day(db: Session) -> None:
    _system(db)
    probe = db.get(Probe, service.add_probe(db, "ct-lgsp", ProbeIn(name="p", kind="tcp", target="10.0.0.1:1")).id)
    assert probe is not None
    for minute, latency in enumerate([10.0, 20.0, 30.0, 40.0]):
        service.record(db, probe, Outcome(True, latency, "ok"), T0 + timedelta(minutes=minute))
    service.record(db, probe, Outcome(False, None, "down"), T0 + timedelta(minutes=10))
    # 18:00 UTC on 1 July is 01:00 on 2 July in Vietnam.
    service.record(db, probe, Outcome(True, 50.0, "ok"), datetime(2025, 7, 1, 18, tzinfo=UTC))
    days = service.uptime(db, "ct-lgsp", date(2025, 7, 1), date(2025, 7, 3))
    assert [(d["day"], d["checks"], d["uptime_pct"]) for d in days] == [
        (date(2025, 7, 1), 5, 80.0),
        (date(2025, 7, 2), 1, 100.0),
        (date(2025, 7, 3), 0, None),
    ]
    assert days[0]["p50_ms"] == 25.0 and days[0]["p95_ms"] == 38.5


def test_systems_create_patch_and_errors(db: Session) -> None:
    _system(db)
    with pytest.raises(Conflict):
        _system(db)
    patched = service.patch_system(db, "ct-lgsp", SystemPatch(decision="merge", target_system="city-lgsp"))
    assert (patched.decision, patched.target_system, patched.criticality) == ("merge", "city-lgsp", "critical")
    with pytest.raises(NotFound):
        service.get_system(db, "nope")
    with pytest.raises(InvalidInput, match="needs a target"):
        service.add_probe(db, "ct-lgsp", ProbeIn(name="x", kind="http"))
