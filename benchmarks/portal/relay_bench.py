"""Relay benchmark: throughput to the portal simulator, and an outage run that must lose and duplicate nothing.

The simulator runs as its own process (``hopnhat portal simulate``), the relay in this one, the store on SQLite or
PostgreSQL. Usage::

    python benchmarks/portal/relay_bench.py --backend sqlite --events 5000
    python benchmarks/portal/relay_bench.py --backend postgresql --events 5000
    python benchmarks/portal/relay_bench.py --backend postgresql --events 5000 --outage 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.portal import service
from hopnhat.portal.client import PortalClient
from hopnhat.portal.relay import Relay, RelayConfig
from hopnhat.portal.service import RetryPolicy
from hopnhat.portal.simulator import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.portal.factories import make_outbox

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of ``pid`` (Linux ``/proc``), or of this process. On a shared machine the CPU spent per
    event is a steadier figure than the throughput, which depends on what the other processes are doing."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'store.db'}", None
    name = f"hopnhat_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return f"{PG}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--per-dossier", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="run N `hopnhat portal relay` processes instead of one in-process relay",
    )
    parser.add_argument("--outage", type=float, default=0.0, help="seconds of 503/timeouts in the middle of the run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        url, drop = store(args.backend, tmp)
        port = free_port()
        sim = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "hopnhat"),
                "portal",
                "simulate",
                "--port",
                str(port),
                "--db",
                str(tmp / "sim.db"),
            ],
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            engine = make_engine(url, pool_size=4)
            ensure_schema(engine)
            dossiers = args.events // args.per_dossier
            with session_scope(engine) as session:
                make_outbox(session, dossiers=dossiers, steps=args.per_dossier - 1, prefix="BENCH")
            total = dossiers * args.per_dossier
            admin = httpx.Client(base_url=base, timeout=10)
            for _ in range(100):
                try:
                    admin.get("/admin/stats")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)

            policy = RetryPolicy(max_attempts=30, base_seconds=0.5, cap_seconds=8.0)
            config = RelayConfig(batch=args.batch, workers=args.workers, policy=policy, idle_seconds=0.1)
            client = PortalClient(base, "hopnhat", "hopnhat", timeout=2.0, max_connections=args.workers)
            stop = threading.Event()
            relay = Relay(engine, client, config)
            started = time.perf_counter()
            relay_cpu0, sim_cpu0 = cpu_seconds(), cpu_seconds(sim.pid)
            if args.outage:
                # the outage starts at once: 503s for half of it, lost answers (timeouts) for the other half
                admin.post("/admin/faults", json={"mode": "error", "status": 503, "seconds": args.outage / 2})
                threading.Timer(
                    args.outage / 2,
                    lambda: admin.post(
                        "/admin/faults", json={"mode": "timeout", "hang_seconds": 3, "seconds": args.outage / 2}
                    ),
                ).start()
            procs: list[subprocess.Popen[bytes]] = []
            hopnhat = str(Path(sys.executable).parent / "hopnhat")
            for _ in range(args.processes):
                procs.append(
                    subprocess.Popen(
                        [
                            hopnhat,
                            "--db",
                            url,
                            "portal",
                            "relay",
                            "--url",
                            base,
                            "--batch",
                            str(args.batch),
                            "--workers",
                            str(args.workers),
                            "--backoff",
                            "0.5",
                            "--timeout",
                            "2",
                            "--max-attempts",
                            "30",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            worker = threading.Thread(target=relay.run, args=(stop,))
            if not procs:
                worker.start()
            while True:
                with Session(engine) as session:
                    st = service.status(session)
                if st.pending == 0:
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            relay_cpu, sim_cpu = cpu_seconds() - relay_cpu0, cpu_seconds(sim.pid) - sim_cpu0
            stop.set()
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
            if not procs:
                worker.join()
            relay.close()
            client.close()

            accepted = admin.get("/admin/accepted", params={"limit": 10_000_000}).json()
            stats = admin.get("/admin/stats").json()
            keys = [row["idempotency_key"] for row in accepted]
            arrival: dict[str, list[int]] = defaultdict(list)
            for key in keys:
                code, seq = key.rsplit(":", 1)
                arrival[code].append(int(seq))
            in_order = all(seqs == list(range(1, len(seqs) + 1)) for seqs in arrival.values())
            print(
                f"backend={args.backend} events={total} dossiers={dossiers} batch={args.batch} workers={args.workers} "
                f"outage={args.outage:.0f}s relay_processes={args.processes or 'in-process'}"
            )
            print(f"elapsed={elapsed:.2f}s throughput={total / elapsed:.0f} events/s")
            cpu_note = "" if not procs else " (relay processes not counted)"
            print(
                f"cpu_per_event: relay={relay_cpu / total * 1000:.2f}ms{cpu_note} "
                f"simulator={sim_cpu / total * 1000:.2f}ms load_average={os.getloadavg()[0]:.1f}"
            )
            print(
                f"accepted={len(keys)} distinct={len(set(keys))} lost={total - len(set(keys))} "
                f"applied_twice={len(keys) - len(set(keys))} resent_and_absorbed={stats.get('duplicates', 0)} "
                f"in_order={in_order} dead={st.dead}"
            )
            engine.dispose()
        finally:
            sim.terminate()
            sim.wait(timeout=10)
            if drop:
                drop()


if __name__ == "__main__":
    main()
