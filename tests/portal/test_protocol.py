"""The relay against the simulator over real HTTP, speaking the protocol as real provincial systems do: batches,
bisection of a refused call, "đã tồn tại" turned into an update, "00", cut text, dead letters mended or skipped,
TraCuuHoSo before an inherited dossier's first push, a refused event holding its dossier's later events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from hopnhat.db import make_engine, session_scope, utcnow
from hopnhat.portal import service
from hopnhat.portal.client import PortalClient, Protocol
from hopnhat.portal.relay import Relay, RelayConfig
from hopnhat.portal.service import RetryPolicy
from hopnhat.store.models import Dossier, OutboxEvent, ProcessingStep
from hopnhat.store.outbox import enqueue
from tests.portal.conftest import Sim
from tests.portal.factories import RECEIVED, add_steps, make_dossier, make_outbox
from tests.portal.test_relay import assert_exactly_once_in_order, deliver_all

FAST = RetryPolicy(max_attempts=50, base_seconds=0.05, cap_seconds=0.2)


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def relay(store: Engine, sim: Sim, style: str = "service", timeout: float = 10, **config: object) -> Relay:
    protocol = Protocol(style="urls" if style == "urls" else "service", madonvi="000.00.00.H13")
    client = PortalClient(sim.url, "hopnhat", "hopnhat", protocol=protocol, timeout=timeout)
    values: dict[str, object] = {"policy": FAST, "workers": 4, "batch_size": 10}
    values.update(config)
    return Relay(store, client, RelayConfig(**values))  # type: ignore[arg-type]


def close(r: Relay) -> None:
    r.close()
    r.client.close()


def states(store: Engine, code: str) -> list[str]:
    with Session(store) as session:
        return list(
            session.scalars(select(OutboxEvent.state).where(OutboxEvent.dossier_code == code).order_by(OutboxEvent.seq))
        )


@pytest.mark.parametrize("style", ["service", "urls"])
def test_dossiers_and_steps_go_in_batches_in_order(store: Engine, sim: Sim, style: str) -> None:
    with session_scope(store) as session:
        make_outbox(session, dossiers=25, steps=2)  # 75 events
    r = relay(store, sim, style)
    try:
        deliver_all(r)
    finally:
        close(r)
    assert_exactly_once_in_order(sim, store)
    calls = sim.calls()
    creates = [c for c in calls if c["service"] == "DongBoHoSoMC"]
    steps = [c for c in calls if c["service"] == "CapNhatTienDoHoSoMC"]
    assert sorted(c["records"] for c in creates) == [5, 10, 10]  # 25 dossiers in calls of at most 10
    assert sorted(c["records"] for c in steps) == [5, 5, 10, 10, 10, 10]  # 50 steps, two rounds of 25
    assert not any(c["updating"] for c in creates)


def test_a_refused_batch_is_bisected_and_the_rest_is_sent(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        for n in range(8):
            dossier = make_dossier(session, f"H13-260210-{n:04d}", procedure_code="" if n == 5 else "1.001193")
            add_steps(session, dossier, 1)
    r = relay(store, sim)
    try:
        r.drain()
    finally:
        close(r)
    with Session(store) as session:
        dead = service.dead_letters(session)
    assert [(d.dossier_code, d.seq) for d in dead] == [("H13-260210-0005", 1)]
    assert "H13-260210-0005" in (dead[0].last_error or "") and "MaTTHC" in (dead[0].last_error or "")
    applied = {(row["service"], row["MaHoSo"]) for row in sim.applied()}
    assert len(applied) == 14 and ("DongBoHoSoMC", "H13-260210-0005") not in applied
    refused = [c for c in sim.dossier_calls() if c["error_code"] != "0"]
    assert [c["records"] for c in refused] == [8, 4, 2, 1]  # halves until the bad record stands alone
    assert states(store, "H13-260210-0005") == ["dead", "pending"]  # its step waits behind it


def test_a_create_answered_exists_is_sent_as_an_update(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        make_outbox(session, dossiers=3, steps=1)
    # The portal already holds one of them (an answer lost on the way back, a push by hand): as it was at intake.
    with PortalClient(sim.url, "hopnhat", "hopnhat") as portal:
        portal.push_dossiers(
            [{"MaHoSo": "H13-260210-0001", "MaTTHC": "1.001193", "ChuHoSo": "Nguyễn Văn An",
              "NgayTiepNhan": "20260210093000", "TrangThaiHoSo": "2", "KenhThucHien": "2"}],
            updating=False,
        )  # fmt: skip
    r = relay(store, sim)
    try:
        deliver_all(r)
    finally:
        close(r)
    calls = sim.dossier_calls()
    assert [(c["records"], c["updating"], c["error_code"]) for c in calls[1:]] == [
        (3, False, "-3"),  # the batch: "Hồ sơ ... đã tồn tại"
        (1, False, "0"),  # bisected: the first half went in
        (2, False, "-3"),
        (1, False, "-3"),
        (1, True, "0"),  # the one the portal holds, as an update
        (1, False, "0"),
    ]
    with PortalClient(sim.url, "hopnhat", "hopnhat") as portal:
        copy = portal.lookup("H13-260210-0001")
    assert copy is not None and copy["NgayHenTra"] != "" and copy["TrangThaiHoSo"] == "4"
    assert all(state == "delivered" for code in ("H13-260210-0000", "H13-260210-0001") for state in states(store, code))


def test_success_answered_as_00_is_success(store: Engine, sim: Sim) -> None:
    sim.config(success_code="00")
    with session_scope(store) as session:
        make_outbox(session, dossiers=2, steps=2)
    r = relay(store, sim)
    try:
        deliver_all(r)
    finally:
        close(r)
    assert_exactly_once_in_order(sim, store)


def test_an_over_long_name_is_cut_to_the_portals_limit(store: Engine, sim: Sim) -> None:
    name = "Nguyễn Thị Phương Thảo, Phó Trưởng phòng Tư pháp phường Ninh Kiều"  # 66 characters
    with session_scope(store) as session:
        dossier = make_dossier(session, "H13-260210-0300")
        step = ProcessingStep(dossier_id=dossier.id, seq=1, at=RECEIVED + timedelta(hours=1), actor=name,
                              from_status=2, to_status=4, note="Chuyển xử lý")  # fmt: skip
        dossier.steps.append(step)
        session.flush()
        enqueue(session, dossier, "step", step)
    r = relay(store, sim)
    try:
        deliver_all(r)
    finally:
        close(r)
    steps = [row["data"] for row in sim.applied() if row["service"] == "CapNhatTienDoHoSoMC"]
    assert [s["NguoiXuLy"] for s in steps] == [name[:50]]


def test_an_unsendable_code_is_dead_lettered_mended_and_resent(store: Engine, sim: Sim) -> None:
    bad = "H13–260210–0400"  # en dashes, as a spreadsheet of the former system typed them
    with session_scope(store) as session:
        add_steps(session, make_dossier(session, bad), 2)
        make_outbox(session, dossiers=1, steps=1, prefix="H13-260210-05")
    r = relay(store, sim)
    try:
        r.drain()
        with Session(store) as session:
            dead = service.dead_letters(session)
            assert [(d.dossier_code, d.seq) for d in dead] == [(bad, 1)]
            assert "cannot be sent" in (dead[0].last_error or "")
        assert bad not in {row["MaHoSo"] for row in sim.applied()}
        with session_scope(store) as session:
            changes = service.mend(session, dead[0].id, {"MaHoSo": "H13-260210-0400"}, "dấu gạch sai", "admin")
        assert changes["MaHoSo"] == [None, "H13-260210-0400"]
        r.drain()
    finally:
        close(r)
    mended = [row for row in sim.applied() if row["MaHoSo"] == "H13-260210-0400"]
    assert [row["service"] for row in mended] == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC", "CapNhatTienDoHoSoMC"]
    assert states(store, bad) == ["delivered"] * 3
    with session_scope(store) as session:
        assert session.scalar(select(Dossier.code).where(Dossier.code == bad)) == bad  # the dossier keeps its code


def test_a_refused_event_holds_its_dossiers_later_events(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        dossier = make_dossier(session, "H13-260210-0700")
        for n, actor in enumerate(["canbo1", "", "canbo3"], start=1):  # the second step has no officer: refused
            step = ProcessingStep(dossier_id=dossier.id, seq=n, at=RECEIVED + timedelta(hours=n), actor=actor,
                                  from_status=2, to_status=4)  # fmt: skip
            dossier.steps.append(step)
            session.flush()
            enqueue(session, dossier, "step", step)
    r = relay(store, sim)
    try:
        for _ in range(3):
            r.run_once()
        assert states(store, "H13-260210-0700") == ["delivered", "delivered", "dead", "pending"]
        assert [row["service"] for row in sim.applied()] == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
        with Session(store) as session:
            dead = service.dead_letters(session)
        with session_scope(store) as session:
            service.skip(session, dead[0].id, "bước không có cán bộ")
        deliver_all(r)
    finally:
        close(r)
    assert states(store, "H13-260210-0700") == ["delivered", "delivered", "skipped", "delivered"]
    actors = [row["data"]["NguoiXuLy"] for row in sim.applied() if row["service"] == "CapNhatTienDoHoSoMC"]
    assert actors == ["canbo1", "canbo3"]


def test_an_inherited_dossier_is_looked_up_before_its_first_push(store: Engine, sim: Sim) -> None:
    inherited = {"origin": "migrated", "owned_here_at": utcnow(), "former_province_code": "93"}
    with session_scope(store) as session:
        # pushed by the former system before the cut-over: the portal holds it
        held = make_dossier(session, "000.00.12.H26-250620-0007", **inherited)
        # never pushed by the former system
        make_dossier(session, "000.00.12.H26-250620-0008", **inherited)
        session.execute(delete(OutboxEvent))  # the factory queued their intake; the sync does not
        add_steps(session, held, 1)  # the first officer action here queues its step
        missing = session.scalars(select(Dossier).where(Dossier.code == "000.00.12.H26-250620-0008")).one()
        enqueue(session, missing, "dossier")
        # still the former system's (no cut-over, no action here): an event queued for it anyway is not pushed
        make_dossier(session, "000.00.12.H26-250620-0009", origin="migrated", former_province_code="93")
    with PortalClient(sim.url, "hopnhat", "hopnhat") as portal:
        portal.push_dossiers(
            [{"MaHoSo": "000.00.12.H26-250620-0007", "MaTTHC": "1.001193", "ChuHoSo": "Lê Văn Bình",
              "NgayTiepNhan": "20250620080000", "TrangThaiHoSo": "2", "KenhThucHien": "1"}],
            updating=False,
        )  # fmt: skip
    r = relay(store, sim)
    try:
        r.drain()
    finally:
        close(r)
    with Session(store) as session:
        dead = service.dead_letters(session)
    lookups = sorted(c["codes"][0] for c in sim.calls() if c["service"] == "TraCuuHoSo")
    assert lookups == ["000.00.12.H26-250620-0007", "000.00.12.H26-250620-0008"]
    assert [(d.dossier_code, "former system still owns" in (d.last_error or "")) for d in dead] == [
        ("000.00.12.H26-250620-0009", True)
    ]
    pushes = [(c["codes"], c["updating"]) for c in sim.dossier_calls()[1:]]
    assert pushes == [(["000.00.12.H26-250620-0008"], False)]  # the held one is not created again
    steps = [row for row in sim.applied() if row["service"] == "CapNhatTienDoHoSoMC"]
    assert [s["MaHoSo"] for s in steps] == ["000.00.12.H26-250620-0007"]  # under its original code


def test_an_outage_then_recovery_loses_nothing_applies_nothing_twice(store: Engine, sim: Sim) -> None:
    """The real 60 s outage is in benchmarks/portal; here the clock is compressed: 1 s of 503s, then lost answers."""
    with session_scope(store) as session:
        make_outbox(session, dossiers=20, steps=4)  # 100 events
    r = relay(store, sim, timeout=2.0, workers=4, batch=10)  # 10 events per claim: the outage hits mid-way
    try:
        r.run_once()
        sim.faults(mode="error", status=503, seconds=1.0)
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            r.run_once()
            time.sleep(0.05)
        sim.faults(mode="timeout", hang_seconds=3.0, remaining=2)  # applied, then the answer is lost
        deliver_all(r, timeout=120)
    finally:
        close(r)
    assert_exactly_once_in_order(sim, store)
    with Session(store) as session:
        status = service.status(session)
    assert (status.pending, status.dead, status.delivered) == (0, 0, 100)
    stats = sim.stats()
    assert stats["injected_errors"] > 0 and stats["duplicates"] > 0  # the outage hit; lost answers were absorbed


def test_the_records_carry_the_decision_766_fields_and_no_id_in_the_outbox(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        make_dossier(session, "H13-260210-0800", applicant_id_type="cccd", applicant_email="an@example.vn",
                     vneid_signin=True, paid_online=True, digitised_documents=3, submitted_at=RECEIVED,
                     received_center_code="000.00.32.H13")  # fmt: skip
        make_dossier(session, "H13-260210-0801", applicant_id_type="cccd", applicant_id_number="09209900123")
    r = relay(store, sim)
    try:
        r.drain()
    finally:
        close(r)
    [record] = [row["data"] for row in sim.applied()]
    assert {k: record[k] for k in ("SoGiayToChuHoSo", "DinhDanhCHS", "Email", "KenhThucHien")} == {
        "SoGiayToChuHoSo": "092099001234",
        "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": "092099001234"}],
        "Email": "an@example.vn",
        "KenhThucHien": "2",
    }
    assert (record["TaiKhoanDuocXacThucVoiVNeID"], record["DuocThanhToanTrucTuyen"]) == (1, 1)
    assert (record["HoSoCoThanhPhanSoHoa"], record["NoiNopHoSo"]) == (1, "000.00.32.H13")
    assert record["NgayNopHoSo"] == "20260210093000" and record["NgayTuChoi"] == ""
    with Session(store) as session:
        dead = service.dead_letters(session)
        payloads = [e.payload for e in session.scalars(select(OutboxEvent))]
    assert [d.dossier_code for d in dead] == ["H13-260210-0801"]
    assert "12 digits" in (dead[0].last_error or "") and "09209900123" not in (dead[0].last_error or "")
    assert "0920990012" not in str(payloads)  # identity numbers are read at delivery, never kept in the outbox
