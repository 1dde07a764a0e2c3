"""The background worker runs due probes on its own and stops when asked."""

from __future__ import annotations

import time

from hopnhat.continuity import monitor, service
from hopnhat.continuity.schemas import ProbeIn, SystemIn
from hopnhat.db import make_engine, session_scope
from tests.continuity.servers import LOOPBACK, TcpServer


def test_background_monitor_records_results_until_stopped(store_url: str) -> None:
    engine = make_engine(store_url)
    server = TcpServer()
    try:
        with session_scope(engine) as session:
            service.create_system(session, SystemIn(code="ct-ioc", name="Trung tâm IOC"))
            probe = ProbeIn(name="ioc", kind="tcp", target=server.target, period_s=1)
            service.add_probe(session, "ct-ioc", probe, LOOPBACK)
        thread, stop = monitor.start_background(engine, interval=0.5, allow=LOOPBACK)
        states: list[str] = []
        for _ in range(100):  # poll; the assertion is on the outcome, not on how fast it came
            with session_scope(engine) as session:
                states = [s.state for s in service.system_status(session)]
            if states == ["up"]:
                break
            time.sleep(0.1)
        stop.set()
        thread.join(timeout=30)
        assert states == ["up"]
        assert not thread.is_alive()
    finally:
        server.stop()
        engine.dispose()
