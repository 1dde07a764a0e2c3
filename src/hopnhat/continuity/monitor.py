"""The background worker behind ``hopnhat monitor``: runs due probes, records results, opens/closes incidents.

A cycle checks first and writes after, in one short transaction, so a slow target never holds the SQLite writer.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.continuity import probes, service
from hopnhat.continuity import repository as repo
from hopnhat.continuity.models import Probe
from hopnhat.continuity.netguard import AllowList
from hopnhat.db import session_scope, utcnow

log = logging.getLogger(__name__)


def run_cycle(
    engine: Engine, force: bool = False, workers: int = 16, allow: AllowList | None = None
) -> list[tuple[str, bool, str]]:
    """Run every due probe (every enabled probe with ``force``) once; returns (probe, ok, detail) per probe.

    Network probes reach only addresses in ``allow`` (the caller's ``probe_allowed_networks``; the environment's
    settings when not given)."""
    allow = allow if allow is not None else service.default_allow_list()
    now = utcnow()
    outcomes: list[tuple[int, probes.Outcome]] = []
    with Session(engine) as reader:
        due = service.due_probes(reader, now) if not force else list(repo.probes(reader, enabled_only=True))
        # Network checks run side by side so one dead target (waiting out its timeout) does not delay the rest;
        # heartbeat checks read the store and stay on this thread.
        network = [p for p in due if p.kind != "heartbeat"]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(network)))) as pool:
            futures = [(p.id, pool.submit(service.network_check, p, allow)) for p in network]
            for probe in due:
                if probe.kind == "heartbeat":
                    outcomes.append((probe.id, service.check(reader, probe, now)))
            outcomes.extend((probe_id, future.result()) for probe_id, future in futures)
        reader.rollback()
    report: list[tuple[str, bool, str]] = []
    with session_scope(engine) as session:
        for probe_id, outcome in outcomes:
            current = session.get(Probe, probe_id)
            if current is None:  # deleted while we checked
                continue
            service.record(session, current, outcome, now)
            report.append((current.name, outcome.ok, outcome.detail))
        service.refresh_incident_gauge(session)
    return report


def run_forever(
    engine: Engine, interval: float, stop: threading.Event | None = None, allow: AllowList | None = None
) -> None:
    """Wake every ``interval`` seconds until ``stop`` is set; a failing cycle is logged and retried next time."""
    stop = stop or threading.Event()
    allow = allow if allow is not None else service.default_allow_list()
    while not stop.is_set():
        started = time.monotonic()
        try:
            run_cycle(engine, allow=allow)
        except Exception as exc:  # the worker must outlive a broken cycle (store restart, bad probe)
            log.error("monitor cycle failed: %s", type(exc).__name__)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def start_background(
    engine: Engine, interval: float, allow: AllowList | None = None
) -> tuple[threading.Thread, threading.Event]:
    """Run the monitor in a daemon thread (for ``hopnhat serve`` or tests); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(engine, interval, stop, allow), name="hopnhat-monitor", daemon=True
    )
    thread.start()
    return thread, stop
