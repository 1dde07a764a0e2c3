"""Public lookup latency under 50 concurrent clients, against a ``hopnhat serve`` process on PostgreSQL.

Run: ``python benchmarks/settlement/bench_lookup.py [--requests 5000] [--port 8765] [--workers N]``. The server is
a separate process, ``hopnhat serve --workers N`` (default 1). The clients are threads here, each with its own
keep-alive HTTP connection, sending back to back (a closed loop: latency includes the wait for a free server)
unless ``--interval`` gives each client a pause between its lookups (an open, lighter load).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.settlement import service
from hopnhat.settlement.catalog import load_sample
from hopnhat.settlement.schemas import IntakeIn

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
SERVE = "from hopnhat.cli import main; main()"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (Linux ``/proc``; 0 elsewhere). Unlike latency on a shared
    machine, this cost per lookup does not depend on what the other processes are doing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        pending.extend(int(c) for c in children)
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="`hopnhat serve --workers N`: uvicorn worker processes")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds each client waits between lookups")
    ap.add_argument(
        "--driver",
        choices=("threads", "wrk"),
        default="threads",
        help="threads: Python clients here; wrk: Debian's wrk (C, far less client CPU on the same 2 cores)",
    )
    ap.add_argument("--duration", type=int, default=30, help="seconds of load with --driver wrk")
    args = ap.parse_args()
    name = f"hopnhat_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG}/{name}"
    if args.port == 0:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            args.port = sock.getsockname()[1]
    server: subprocess.Popen[bytes] | None = None
    try:
        engine = make_engine(url)
        ensure_schema(engine)
        with session_scope(engine) as s:
            registry.load(s)
            registry.issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
            load_sample(s)
            body = IntakeIn(procedure_code="1.001193", channel=2, applicant_name="Bench", commune_code="31135")
            extra: dict[str, Any] = {}
            if "principal" in inspect.signature(service.intake).parameters:  # since identity: an officer receives
                from hopnhat.identity.principal import Principal
                from hopnhat.identity.roles import Role

                extra["principal"] = Principal(username="bench", roles=frozenset(Role), via="cli")
            codes = [service.intake(s, body, service.load_calendar(s), **extra).code for _ in range(200)]
        engine.dispose()
        env = dict(os.environ, HOPNHAT_PUBLIC_RATE_LIMIT_PER_MINUTE="100000000", HOPNHAT_LOG_LEVEL="WARNING")
        command = [sys.executable, "-c", SERVE, "--db", url, "serve", "--port", str(args.port)]
        command += ["--workers", str(args.workers)]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{args.port}/api/v1/public/dossiers/"
        for _ in range(300):
            try:
                if httpx.get(base + codes[0]).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not answer")
        if args.workers > 1:
            time.sleep(5)  # the first worker answered; give the others time to finish create_app()
        if args.driver == "wrk":
            run_wrk(args, server.pid, base, codes)
            return
        latencies: list[float] = []
        lock = threading.Lock()
        per_client = args.requests // args.clients
        ready = threading.Barrier(args.clients + 1, timeout=120)
        failures: list[str] = []

        def client(k: int) -> None:
            try:
                measure(k)
            except Exception as exc:  # a dead client must stop the run, not hang it at the barrier
                with lock:
                    failures.append(f"client {k}: {type(exc).__name__}: {exc}")
                ready.abort()

        def measure(k: int) -> None:
            mine: list[float] = []
            with httpx.Client(timeout=60) as http:
                for i in range(5):  # warm-up, not measured: connection, server-side caches, prepared statements
                    http.get(base + codes[(k + i) % len(codes)])
                ready.wait()
                for i in range(per_client):
                    t = time.perf_counter()
                    r = http.get(base + codes[(k * per_client + i) % len(codes)])
                    mine.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.status_code
                    if args.interval:
                        time.sleep(args.interval)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for th in threads:
            th.start()
        with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: it is reported below
            ready.wait()
        cpu0 = cpu_seconds(server.pid)
        t0 = time.perf_counter()
        for th in threads:
            th.join()
        if failures:
            raise SystemExit("; ".join(failures[:3]))
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        q = statistics.quantiles(latencies, n=100)
        mode = f"hopnhat serve --workers {args.workers}"
        pause = f", {args.interval * 1000:.0f} ms between a client's lookups" if args.interval else ", back to back"
        print(
            f"{mode}{pause}. {len(latencies)} lookups, {args.clients} clients: p50 {q[49] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms, {len(latencies) / wall:.0f} req/s; "
            f"server CPU {cpu / len(latencies) * 1000:.2f} ms per lookup; load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


WRK_SCRIPT = """
codes = {%s}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "%s" .. codes[(i %% #codes) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50=%%.3f p99=%%.3f requests=%%d errors=%%d seconds=%%.3f\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.duration / 1e6))
end
"""


def run_wrk(args: argparse.Namespace, server_pid: int, base: str, codes: list[str]) -> None:
    """50 keep-alive connections from wrk, back to back, each lookup a different dossier code in turn."""
    import shutil
    import tempfile

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    path = "/api/v1/public/dossiers/"
    script = WRK_SCRIPT % (", ".join(f'"{c}"' for c in codes), path)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    url = base.split(path)[0]
    warm = ["wrk", "-t2", f"-c{args.clients}", "-d3s", "-s", f.name, url]
    subprocess.run(warm, check=True, capture_output=True)  # connections, statement caches
    cpu0 = cpu_seconds(server_pid)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{args.clients}", f"-d{args.duration}s", "--latency", "-s", f.name, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = cpu_seconds(server_pid) - cpu0
    result = dict(kv.split("=") for kv in out.split("RESULT ", 1)[1].split())
    n = int(result["requests"])
    print(
        f"hopnhat serve --workers {args.workers}, wrk -c{args.clients} back to back for {args.duration} s. "
        f"{n} lookups ({result['errors']} errors): p50 {float(result['p50']):.1f} ms, "
        f"p99 {float(result['p99']):.1f} ms, {n / float(result['seconds']):.0f} req/s; "
        f"server CPU {cpu / n * 1000:.2f} ms per lookup; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
