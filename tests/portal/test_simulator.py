"""The simulator answers like the real portal (DOMAIN.md), over real HTTP, in both styles."""

from __future__ import annotations

import httpx
import pytest

from hopnhat.portal.client import PortalClient, PortalExists, PortalRejected, PortalUnavailable, Protocol
from tests.portal.conftest import Sim

RECORD = {
    "MaHoSo": "H13-260210-0001",
    "MaTTHC": "1.001193",
    "ChuHoSo": "Nguyễn Văn An",
    "NgayTiepNhan": "20260210093000",
    "TrangThaiHoSo": "2",
    "KenhThucHien": "2",
}
STEP = {
    "MaHoSo": RECORD["MaHoSo"],
    "NguoiXuLy": "cb",
    "ThoiDiemXuLy": "20260210100000",
    "TrangThai": "4",
    "TrangThaiHoSo": "4",
}


def test_services_need_a_session_dstcode_and_madonvi(sim: Sim) -> None:
    answer = httpx.post(f"{sim.url}/", json={"service": "DongBoHoSoMC", "session": "forged", "data": [RECORD]},
                        headers={"dstcode": "DVCQG"})  # fmt: skip
    assert answer.status_code == 401
    with PortalClient(sim.url, "hopnhat", "wrong") as client, pytest.raises(PortalRejected, match="login refused"):
        client.push_dossiers([RECORD], updating=False)
    nameless = Protocol(madonvi="")
    with PortalClient(sim.url, "hopnhat", "hopnhat", protocol=nameless) as client, pytest.raises(PortalRejected):
        client.push_dossiers([RECORD], updating=False)
    assert sim.applied() == []


@pytest.mark.parametrize("style", ["service", "urls"])
def test_both_styles_create_exists_update_steps_and_lookup(sim: Sim, style: str) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat", protocol=Protocol(style=style)) as client:  # type: ignore[arg-type]
        assert client.lookup(RECORD["MaHoSo"]) is None
        client.push_dossiers([RECORD, {**RECORD, "MaHoSo": "H13-260210-0002"}], updating=False)
        with pytest.raises(PortalExists, match="đã tồn tại"):
            client.push_dossiers([RECORD], updating=False)
        client.push_dossiers([{**RECORD, "TrangThaiHoSo": "4"}], updating=True)
        client.push_dossiers([{**RECORD, "TrangThaiHoSo": "4"}], updating=True)  # the same again: not applied
        client.push_steps([STEP])
        client.push_steps([STEP])  # a repeat (a lost answer): acknowledged, not applied
        looked_up = client.lookup(RECORD["MaHoSo"])
    assert looked_up is not None and looked_up["TrangThaiHoSo"] == "4"
    assert [s["NguoiXuLy"] for s in looked_up["QuaTrinhXuLy"]] == ["cb"]
    assert [(r["service"], r["MaHoSo"]) for r in sim.applied()] == [
        ("DongBoHoSoMC", "H13-260210-0001"),
        ("DongBoHoSoMC", "H13-260210-0002"),
        ("DongBoHoSoMC", "H13-260210-0001"),
        ("CapNhatTienDoHoSoMC", "H13-260210-0001"),
    ]
    paths = {c["path"] for c in sim.calls()}
    assert paths == ({"/"} if style == "service" else {"/hoso/them", "/hoso/capnhat", "/hoso/tiendo", "/hoso/tracuu"})
    assert sim.stats()["duplicates"] == 2


def test_success_as_the_string_00_is_success(sim: Sim) -> None:
    sim.config(success_code="00")
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client:
        client.push_dossiers([RECORD], updating=False)
    assert len(sim.applied()) == 1
    assert {c["error_code"] for c in sim.calls()} == {"0"}


def test_a_call_with_one_bad_record_is_refused_whole_naming_it(sim: Sim) -> None:
    bad = {**RECORD, "MaHoSo": "H13-260210-0009", "MaTTHC": ""}
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client, pytest.raises(PortalRejected, match=r"0009.*MaTTHC"):
        client.push_dossiers([RECORD, bad], updating=False)
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client, pytest.raises(PortalRejected, match="NguoiXuLy"):
        client.push_dossiers([RECORD], updating=False)
        client.push_steps([{**STEP, "NguoiXuLy": "x" * 51}])
    assert [r["service"] for r in sim.applied()] == ["DongBoHoSoMC"]


def test_injected_faults_are_transient_errors_and_end(sim: Sim) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat", timeout=0.5) as client:
        client.login()
        sim.faults(mode="error", status=503, remaining=1)
        with pytest.raises(PortalUnavailable, match="HTTP 503"):
            client.push_dossiers([RECORD], updating=False)
        # a timed-out call may still have been applied: sent again, the portal says it has the dossier
        sim.faults(mode="timeout", hang_seconds=2.0, remaining=1)
        with pytest.raises(PortalUnavailable, match="timeout"):
            client.push_dossiers([RECORD], updating=False)
        with pytest.raises(PortalExists):
            client.push_dossiers([RECORD], updating=False)
    assert len(sim.applied()) == 1


def test_an_expired_session_is_renewed_transparently(sim: Sim) -> None:
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client:
        client.push_dossiers([RECORD], updating=False)
        sim.http.post("/admin/expire-sessions").raise_for_status()
        client.push_steps([STEP])
        sim.config(session_seconds=0)  # every session is already too old: a fresh login does not help
        with pytest.raises(PortalUnavailable, match="session refused after a fresh login"):
            client.push_steps([{**STEP, "TrangThai": "9"}])
    assert len(sim.applied()) == 2


def test_a_failed_login_is_not_retried_by_every_waiting_thread(sim: Sim) -> None:
    sim.faults(mode="error", status=503, remaining=1)
    with PortalClient(sim.url, "hopnhat", "hopnhat", timeout=5) as client:
        with pytest.raises(PortalUnavailable, match="HTTP 503"):
            client.push_dossiers([RECORD], updating=False)
        with pytest.raises(PortalUnavailable, match=r"HTTP 503 \(a moment ago"):
            client.push_dossiers([RECORD], updating=False)
    with PortalClient(sim.url, "hopnhat", "hopnhat") as client:
        client.push_dossiers([RECORD], updating=False)
        assert client.procedures()[0]["MaTTHC"] == "1.001193"
    assert len(sim.applied()) == 1
