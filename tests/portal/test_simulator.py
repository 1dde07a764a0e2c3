from __future__ import annotations

import httpx
import pytest

from hopnhat.portal.client import PortalClient, PortalRejected, PortalUnavailable
from hopnhat.portal.mapping import SERVICE_DOSSIER, SERVICE_STEP
from tests.portal.conftest import Sim

RECORD = {
    "MaHoSo": "H13-260210-0001",
    "MaTTHC": "1.001193",
    "ChuHoSo": "Nguyễn Văn An",
    "NgayTiepNhan": "20260210093000",
    "TrangThaiHoSo": "2",
    "KenhThucHien": "2",
}


def test_services_need_a_session(sim: Sim) -> None:
    answer = httpx.post(f"{sim.url}/{SERVICE_DOSSIER}", json={"session": "forged", "data": RECORD})
    assert answer.status_code == 401
    with PortalClient(sim.url, "hopnhat", "wrong") as client, pytest.raises(PortalRejected, match="login refused"):
        client.call(SERVICE_DOSSIER, RECORD, idempotency_key="k1")
    assert sim.accepted() == []


def test_a_repeated_key_is_acknowledged_but_applied_once(sim: Sim) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client:
        first = client.call(SERVICE_DOSSIER, RECORD, idempotency_key="H13-260210-0001:1")
        again = client.call(SERVICE_DOSSIER, RECORD, idempotency_key="H13-260210-0001:1")
        client.call(
            SERVICE_STEP,
            {
                "MaHoSo": RECORD["MaHoSo"],
                "NguoiXuLy": "cb",
                "ThoiDiemXuLy": "20260210100000",
                "TrangThai": "4",
                "TrangThaiHoSo": "4",
            },
            idempotency_key="H13-260210-0001:2",
        )
        looked_up = client.lookup(RECORD["MaHoSo"])
        procedures = client.procedures()
    assert first["duplicate"] is False and again["duplicate"] is True
    assert [r["idempotency_key"] for r in sim.accepted()] == ["H13-260210-0001:1", "H13-260210-0001:2"]
    assert sim.stats()["duplicates"] == 1
    assert looked_up["TrangThaiHoSo"] == "4"
    assert [s["NguoiXuLy"] for s in looked_up["QuaTrinhXuLy"]] == ["cb"]
    assert procedures[0]["MaTTHC"] == "1.001193"


def test_malformed_records_are_rejected_with_the_reason(sim: Sim) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client, pytest.raises(PortalRejected, match="MaTTHC"):
        client.call(SERVICE_DOSSIER, {**RECORD, "MaTTHC": ""}, idempotency_key="bad:1")
    assert sim.accepted() == []


def test_injected_faults_are_transient_errors_and_end(sim: Sim) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat", timeout=0.3) as client:
        client.login()
        sim.faults(mode="error", status=503, remaining=1)
        with pytest.raises(PortalUnavailable, match="HTTP 503"):
            client.call(SERVICE_DOSSIER, RECORD, idempotency_key="a:1")
        # a timed-out call may still have been applied: the retry with the same key must not apply it twice
        sim.faults(mode="timeout", hang_seconds=1.0, remaining=1)
        with pytest.raises(PortalUnavailable, match="timeout"):
            client.call(SERVICE_DOSSIER, RECORD, idempotency_key="a:1")
        assert client.call(SERVICE_DOSSIER, RECORD, idempotency_key="a:1")["duplicate"] is True
    assert len(sim.accepted()) == 1


def test_an_expired_session_is_renewed_transparently(sim: Sim) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client:
        client.call(SERVICE_DOSSIER, RECORD, idempotency_key="s:1")
        sim.http.post("/admin/expire-sessions").raise_for_status()
        client.call(SERVICE_DOSSIER, RECORD, idempotency_key="s:2")
    assert len(sim.accepted()) == 2


def test_a_failed_login_is_not_retried_by_every_waiting_thread(sim: Sim) -> None:
    sim.faults(mode="error", status=503, remaining=1)
    with PortalClient(sim.url, "hopnhat", "hopnhat", timeout=5) as client:
        with pytest.raises(PortalUnavailable, match="HTTP 503"):
            client.call(SERVICE_DOSSIER, RECORD, idempotency_key="l:1")
        with pytest.raises(PortalUnavailable, match=r"HTTP 503 \(a moment ago"):
            client.call(SERVICE_DOSSIER, RECORD, idempotency_key="l:1")
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client:
        client.call(SERVICE_DOSSIER, RECORD, idempotency_key="l:1")
    assert len(sim.accepted()) == 1
