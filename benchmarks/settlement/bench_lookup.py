"""Public lookup latency under 50 concurrent clients, against a ``hopnhat serve`` process on PostgreSQL.

Run: ``python benchmarks/settlement/bench_lookup.py [--requests 5000] [--port 8765]``. The server is a separate
process (uvicorn, one worker); the clients are 50 threads here, each with its own HTTP connection.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import date

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--clients", type=int, default=50)
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
            codes = [service.intake(s, body, service.load_calendar(s)).code for _ in range(200)]
        engine.dispose()
        env = dict(os.environ, HOPNHAT_PUBLIC_RATE_LIMIT_PER_MINUTE="100000000", HOPNHAT_LOG_LEVEL="WARNING")
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from hopnhat.cli import main; main()",
                "--db",
                url,
                "serve",
                "--port",
                str(args.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{args.port}/api/v1/public/dossiers/"
        for _ in range(100):
            try:
                if httpx.get(base + codes[0]).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not answer")
        latencies: list[float] = []
        lock = threading.Lock()
        per_client = args.requests // args.clients

        def client(k: int) -> None:
            mine: list[float] = []
            with httpx.Client() as http:
                for i in range(per_client):
                    t = time.perf_counter()
                    r = http.get(base + codes[(k * per_client + i) % len(codes)])
                    mine.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.status_code
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=100)
        print(
            f"{len(latencies)} lookups, {args.clients} clients: p50 {q[49] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms, {len(latencies) / wall:.0f} req/s"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
