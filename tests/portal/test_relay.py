from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.db import make_engine, session_scope
from hopnhat.portal import service
from hopnhat.portal.client import PortalClient
from hopnhat.portal.mapping import to_portal
from hopnhat.portal.relay import Relay, RelayConfig
from hopnhat.portal.service import Outcome, RetryPolicy
from hopnhat.store.models import OutboxEvent
from tests.portal.conftest import Sim
from tests.portal.factories import make_dossier, make_outbox

FAST = RetryPolicy(max_attempts=50, base_seconds=0.05, cap_seconds=0.2)


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def client(sim: Sim, timeout: float = 10.0) -> PortalClient:
    # Long enough that a healthy answer never times out on a loaded machine: the tests that need lost answers
    # inject them (mode="timeout"), they do not rely on the machine being slow.
    return PortalClient(sim.url, "hopnhat", "hopnhat", timeout=timeout)


def deliver_all(relay: Relay, timeout: float = 60) -> None:
    """Run the relay until nothing is pending (waiting out backoff), like a relay process would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        relay.run_once()
        with Session(relay.engine) as session:
            if service.status(session).pending == 0:
                return
        time.sleep(0.02)
    raise AssertionError("relay did not deliver everything in time")


def outbox(engine: Engine) -> list[OutboxEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def applied_by_dossier(sim: Sim) -> dict[str, list[tuple[str, ...]]]:
    """What the portal applied, per dossier in arrival order: ("dossier",) or ("step", time, status)."""
    arrival: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for row in sim.applied():
        data = row["data"]
        if row["service"] == "DongBoHoSoMC":
            arrival[row["MaHoSo"]].append(("dossier",))
        else:
            arrival[row["MaHoSo"]].append(("step", data["ThoiDiemXuLy"], data["TrangThai"]))
    return arrival


def expected_by_dossier(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    expected: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for event in sorted(outbox(engine), key=lambda e: (e.dossier_code, e.seq)):
        if event.kind == "dossier":
            expected[event.dossier_code].append(("dossier",))
        else:
            _, record = to_portal(event.kind, event.payload)
            expected[event.dossier_code].append(("step", record["ThoiDiemXuLy"], record["TrangThai"]))
    return expected


def assert_exactly_once_in_order(sim: Sim, engine: Engine) -> None:
    """Every outbox event applied by the portal once (none lost, none applied twice), in order per dossier."""
    assert applied_by_dossier(sim) == expected_by_dossier(engine)
    assert all(e.state == "delivered" for e in outbox(engine))


class CrashBeforeRecording(Relay):
    """A relay process that dies after the portal took its batch but before the outbox learnt it."""

    def _record(self, session: Session, outcomes: list[Outcome]) -> None:
        raise RuntimeError("relay process killed")


def test_outage_and_restart_deliver_every_event_once_in_order(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        make_outbox(session, dossiers=20, steps=9)  # 200 events
    config = RelayConfig(batch=40, workers=8, policy=FAST, lease_seconds=1.0)

    # 3 s: a healthy answer must never time out, even on a loaded CI machine (8 senders, one simulator process);
    # the injected hang is longer still.
    with client(sim, timeout=3.0) as c1:
        first = Relay(store, c1, config, relay_id="relay-1")
        assert first.run_once().delivered == 40
        # answers lost after the portal applied the records, then a hard outage of 5xx
        sim.faults(mode="timeout", hang_seconds=4.0, remaining=6)
        first.run_once()
        sim.faults(mode="error", status=503)  # until cleared below
        until = time.monotonic() + 0.6
        while time.monotonic() < until:
            assert first.run_once().delivered == 0
            time.sleep(0.05)
        first.close(release=False)  # the process dies holding its lease

    sim.clear()
    with client(sim) as c2:
        crashing = CrashBeforeRecording(store, c2, config, relay_id="relay-2")
        time.sleep(1.1)  # relay-1's lease runs out (SQLite) and the backoffs are over
        with pytest.raises(RuntimeError, match="killed"):
            crashing.run_once()
        crashing.close(release=False)

    with client(sim) as c3, Relay(store, c3, config, relay_id="relay-3") as restarted:
        time.sleep(1.1)
        deliver_all(restarted)

    assert_exactly_once_in_order(sim, store)
    assert sim.stats()["duplicates"] > 0  # the lost answers and the crash really were re-sent and absorbed
    with Session(store) as session:
        status = service.status(session)
    assert status.pending == 0 and status.dead == 0 and status.delivered == 200


def test_dead_letter_blocks_its_dossier_until_requeued(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        codes = make_outbox(session, dossiers=2, steps=2)
    policy = RetryPolicy(max_attempts=2, base_seconds=0.01, cap_seconds=0.01, jitter=False)
    with client(sim) as c, Relay(store, c, RelayConfig(workers=1, policy=policy)) as relay:
        sim.faults(mode="error", status=502)
        for _ in range(20):
            relay.run_once()
            time.sleep(0.02)
        sim.clear()
        c.login()  # the portal is back (else the client waits a moment before trying a login that just failed)
        with Session(store) as session:
            dead = service.dead_letters(session)
            status = service.status(session)
        assert sorted((d.dossier_code, d.seq, d.attempts) for d in dead) == [(codes[0], 1, 2), (codes[1], 1, 2)]
        assert "HTTP 502" in (dead[0].last_error or "")
        assert status.blocked_dossiers == 2 and status.pending == 4

        relay.run_once()
        assert sim.applied() == []  # later events wait behind their dead head

        with session_scope(store) as session:
            assert service.requeue(session, dead[0].id) == 1
        deliver_first = time.monotonic() + 30
        while len(sim.applied()) < 3 and time.monotonic() < deliver_first:
            relay.run_once()
        assert [r["MaHoSo"] for r in sim.applied()] == [codes[0]] * 3

        with session_scope(store) as session:
            assert service.requeue_all(session) == 1
        deliver_all(relay)
    assert_exactly_once_in_order(sim, store)


def test_a_record_the_portal_refuses_goes_dead_at_once(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        make_dossier(session, "H13-260210-0100", procedure_code="")
        make_dossier(session, "H13-260210-0101")
    with client(sim) as c, Relay(store, c, RelayConfig(policy=FAST)) as relay:
        relay.run_once()
    with Session(store) as session:
        dead = service.dead_letters(session)
    assert [(d.dossier_code, d.attempts) for d in dead] == [("H13-260210-0100", 1)]
    assert "MaTTHC" in (dead[0].last_error or "")
    assert [r["MaHoSo"] for r in sim.applied()] == ["H13-260210-0101"]


def test_two_relays_at_once_never_send_an_event_twice(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        make_outbox(session, dossiers=30, steps=4)  # 150 events
    config = RelayConfig(batch=10, workers=4, policy=FAST, idle_seconds=0.01)
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            with client(sim) as c, Relay(store, c, config, relay_id=name) as relay:
                deliver_all(relay)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"relay-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # What the portal applied, not what was sent: delivery is at least once (a late answer is re-sent), and the
    # two relays must never both apply one event.
    assert_exactly_once_in_order(sim, store)


def test_status_reports_backlog_lag_and_failures(store: Engine, sim: Sim) -> None:
    with session_scope(store) as session:
        make_outbox(session, dossiers=3, steps=1)
    with Session(store) as session:
        before = service.status(session)
    assert (before.pending, before.due, before.delivered, before.dead) == (6, 6, 0, 0)
    assert before.oldest_pending_at is not None and before.lag_seconds >= 0
    with client(sim) as c, Relay(store, c, RelayConfig(workers=1, policy=FAST), relay_id="r-status") as relay:
        sim.faults(mode="error", status=503)
        relay.run_once()
        with Session(store) as session:
            failing = service.status(session)
        assert failing.retrying >= 1 and "HTTP 503" in (failing.last_error or "")
        sim.clear()
        deliver_all(relay)
    with Session(store) as session:
        after = service.status(session)
    assert (after.pending, after.delivered, after.lag_seconds) == (0, 6, 0.0)
    assert [r.relay_id for r in after.relays] == ["r-status"] and after.relays[0].delivered == 6


def test_running_relay_picks_up_new_events_until_stopped(store: Engine, sim: Sim) -> None:
    stop = threading.Event()
    with client(sim) as c, Relay(store, c, RelayConfig(policy=FAST, idle_seconds=0.05)) as relay:
        worker = threading.Thread(target=relay.run, args=(stop,))
        worker.start()
        try:
            with session_scope(store) as session:
                make_outbox(session, dossiers=2, steps=2)  # written while the relay is idle
            deadline = time.monotonic() + 20
            while len(sim.applied()) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(timeout=20)
    assert not worker.is_alive()
    assert_exactly_once_in_order(sim, store)
