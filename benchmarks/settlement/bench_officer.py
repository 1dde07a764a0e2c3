"""The officer's pages under load: queue page and dossier page p95 as ratios to the public lookup's p95, and intakes
per second through the intake form as a ratio to the service's intake path, all measured in one run.

Run: ``python benchmarks/settlement/bench_officer.py [--dossiers 200000] [--clients 20] [--seconds 30]
[--intakes 600] [--workers 1]``. A fresh PostgreSQL database gets the registry, the 104 centers' codes, the sample
catalogue, ``--dossiers`` dossiers spread over the 104 centers (one step each; 30 % open, 10 % migrated) and one
officer account per client, each at one center. The server is a separate process (``hopnhat serve``). Each client
signs in through the form and then, back to back, opens its center's queue page (``/officer``, a queue in turn),
one of its center's dossier pages (``/officer/dossiers/{code}``, an audited read) and the public lookup of a
dossier (``/api/v1/public/dossiers/{code}``), in turn; the three kinds share the same server and the same seconds,
so the ratios do not depend on the machine's load as the absolute figures do. Then every client posts intake forms
(``POST /officer/intake``: answered once the dossier and its outbox event are committed) and, in the same run,
``service.intake`` is timed in-process one transaction at a time (the ``hopnhat dossiers intake`` path).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Role
from hopnhat.identity.service import add_user
from hopnhat.registry import repository as registry_repo
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.settlement import service
from hopnhat.settlement.catalog import load_sample
from hopnhat.settlement.schemas import IntakeIn
from hopnhat.store.models import Dossier, ProcessingStep

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
SERVE = "from hopnhat.cli import main; main()"
PASSWORD = "mat-khau-do-tai-2026"
KINDS = ("queue", "dossier", "lookup")
QUEUES = ("today", "overdue", "due_soon", "inherited", "supplement", "all")


def seed(url: str, n: int, clients: int) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """The store: centers, catalogue, ``n`` dossiers, one officer per client. Returns the centers' codes, some
    dossier codes per center and the officers' names."""
    engine = make_engine(url)
    ensure_schema(engine)
    rng = random.Random(7)
    with session_scope(engine) as s:
        registry.load(s)
        registry.issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(s)
        centers = [a.code for a in registry_repo.agencies(s, kind="service_center")]
        officers = []
        for k in range(clients):
            name = f"cb_bench_{k:02d}"
            add_user(s, name, PASSWORD, "center_officer", centers=[centers[k % len(centers)]])
            officers.append(name)
    now = datetime.now(UTC)
    sample: dict[str, list[str]] = {c: [] for c in centers}
    batch = 20_000
    started = time.perf_counter()
    with engine.begin() as conn:
        next_id = 1
        for first in range(0, n, batch):
            rows, steps = [], []
            for i in range(first, min(n, first + batch)):
                center = centers[i % len(centers)]
                received = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
                is_open = rng.random() < 0.3
                status = rng.choice((2, 4, 4, 4, 5, 6)) if is_open else rng.choice((10, 10, 10, 3, 7, 9))
                code = f"{center}-{received:%y%m%d}-B{i:07d}"
                rows.append(
                    {
                        "id": next_id,
                        "code": code,
                        "province_code": "92",
                        "procedure_code": "1.001193",
                        "procedure_name": "Đăng ký khai sinh",
                        "applicant_type": 1,
                        "applicant_name": f"Người Thử {i}",
                        "applicant_id_number": f"092{i:09d}",
                        "channel": 1 + i % 2,
                        "status": status,
                        "received_at": received,
                        "due_at": received + timedelta(days=rng.randrange(1, 20)),
                        "center_code": center,
                        "received_center_code": center,
                        "origin": "migrated" if i % 10 == 0 else "native",
                        "needs_review": False,
                        "notice_consent": False,
                        "vneid_signin": False,
                        "paid_online": False,
                        "digitised_documents": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                steps.append({"dossier_id": next_id, "seq": 1, "at": received, "actor": "bench", "to_status": status})
                if len(sample[center]) < 200:
                    sample[center].append(code)
                next_id += 1
            conn.execute(insert(Dossier), rows)
            conn.execute(insert(ProcessingStep), steps)
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('store_dossier', 'id'), {next_id})"))
            conn.execute(text("ANALYZE"))
    print(f"seeded {n} dossiers over {len(centers)} centers in {time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()
    return centers, sample, officers


def service_intakes(url: str, count: int) -> float:
    """Today's ``hopnhat dossiers intake`` path: ``service.intake``, one committed transaction each, in-process."""
    engine = make_engine(url)
    with session_scope(engine) as s:
        center = registry_repo.agency_by_code(s, "001.02.60.H13")
        assert center is not None
    officer = Principal(username="bench", roles=frozenset({Role.CENTER_OFFICER}), centers=frozenset({center.code}))
    body = IntakeIn(procedure_code="1.001193", channel=1, applicant_name="Bench", commune_code="31135")
    started = time.perf_counter()
    for _ in range(count):
        with session_scope(engine) as s:
            service.intake(s, body, service.load_calendar(s), principal=officer)
    rate = count / (time.perf_counter() - started)
    engine.dispose()
    return rate


def sign_in(http: httpx.Client, base: str, username: str) -> str:
    page = http.get(f"{base}/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, "the sign-in form has its token"
    r = http.post(f"{base}/signin", data={"username": username, "password": PASSWORD, "csrf": token.group(1)})
    assert r.status_code == 303, r.status_code
    page = http.get(f"{base}/officer/intake")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the intake form has the session's token"
    return found.group(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dossiers", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--intakes", type=int, default=600, help="form intakes in all, and as many service intakes")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    name = f"hopnhat_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG}/{name}"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server: subprocess.Popen[bytes] | None = None
    try:
        centers, sample, officers = seed(url, args.dossiers, args.clients)
        env = dict(
            os.environ,
            HOPNHAT_PUBLIC_RATE_LIMIT_PER_MINUTE="100000000",
            HOPNHAT_OFFICER_RATE_LIMIT_PER_MINUTE="100000000",
            HOPNHAT_LOG_LEVEL="WARNING",
            HOPNHAT_SECRET_KEY="bench-secret-key-0123456789abcdef",
        )
        command = [sys.executable, "-c", SERVE, "--db", url, "serve", "--port", str(port)]
        command += ["--workers", str(args.workers)]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not answer")
        if args.workers > 1:
            time.sleep(5)
        latencies: dict[str, list[float]] = {k: [] for k in KINDS}
        intake_times: list[float] = []
        lock = threading.Lock()
        ready = threading.Barrier(args.clients + 1, timeout=300)
        go_intake = threading.Barrier(args.clients + 1, timeout=300)
        failures: list[str] = []
        per_client_intakes = max(1, args.intakes // args.clients)

        def client(k: int) -> None:
            try:
                work(k)
            except Exception as exc:  # a dead client must stop the run, not hang it at a barrier
                with lock:
                    failures.append(f"client {k}: {type(exc).__name__}: {exc}")
                ready.abort()
                go_intake.abort()

        def work(k: int) -> None:
            rng = random.Random(k)
            center = centers[k % len(centers)]
            mine = sample[center]
            everyone = [c for codes in sample.values() for c in codes[:20]]
            measured: dict[str, list[float]] = {kind: [] for kind in KINDS}
            with httpx.Client(timeout=120) as http:
                csrf = sign_in(http, base, officers[k])
                for _ in range(3):  # warm-up, not measured
                    http.get(f"{base}/officer?queue=today")
                ready.wait()
                deadline = time.perf_counter() + args.seconds
                i = 0
                while time.perf_counter() < deadline:
                    kind = KINDS[i % 3]
                    if kind == "queue":
                        url_ = f"{base}/officer?queue={QUEUES[(i // 3) % len(QUEUES)]}"
                    elif kind == "dossier":
                        url_ = f"{base}/officer/dossiers/{rng.choice(mine)}"
                    else:
                        url_ = f"{base}/api/v1/public/dossiers/{rng.choice(everyone)}"
                    t = time.perf_counter()
                    r = http.get(url_)
                    measured[kind].append(time.perf_counter() - t)
                    assert r.status_code == 200, (url_, r.status_code)
                    i += 1
                go_intake.wait()
                times: list[float] = []
                for j in range(per_client_intakes):
                    form = {
                        "csrf": csrf,
                        "procedure_code": "1.001193",
                        "channel": "1",
                        "applicant_name": f"Người Nộp {k}-{j}",
                        "applicant_id_type": "cccd",
                        "applicant_id_number": f"0921{k:02d}{j:06d}",
                        "applicant_address": "12 Mậu Thân, Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Cần Thơ",
                        "commune_code": "31135",
                        "documents": ["TP1", "TP2"],
                    }
                    t = time.perf_counter()
                    r = http.post(f"{base}/officer/intake", data=form)
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 303, r.status_code
            with lock:
                for kind in KINDS:
                    latencies[kind].extend(measured[kind])
                intake_times.extend(times)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for th in threads:
            th.start()
        try:
            ready.wait()
            t0 = time.perf_counter()
            go_intake.wait()
            pages_wall = time.perf_counter() - t0
            t1 = time.perf_counter()
        except threading.BrokenBarrierError:
            pages_wall = t1 = 0.0
        for th in threads:
            th.join()
        if failures:
            raise SystemExit("; ".join(failures[:3]))
        intake_wall = time.perf_counter() - t1
        form_rate = len(intake_times) / intake_wall
        service_rate = service_intakes(url, len(intake_times))
        p95 = {k: statistics.quantiles(v, n=100)[94] * 1000 for k, v in latencies.items()}
        p50 = {k: statistics.median(v) * 1000 for k, v in latencies.items()}
        result: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dossiers": args.dossiers,
            "centers": len(centers),
            "clients": args.clients,
            "workers": args.workers,
            "seconds": round(pages_wall, 1),
            "requests": {k: len(v) for k, v in latencies.items()},
            "p50_ms": {k: round(v, 1) for k, v in p50.items()},
            "p95_ms": {k: round(v, 1) for k, v in p95.items()},
            "queue_p95_over_lookup_p95": round(p95["queue"] / p95["lookup"], 2),
            "dossier_p95_over_lookup_p95": round(p95["dossier"] / p95["lookup"], 2),
            "form_intakes_per_s": round(form_rate, 1),
            "service_intakes_per_s": round(service_rate, 1),
            "form_over_service_intakes": round(form_rate / service_rate, 2),
            "load_average": round(os.getloadavg()[0], 1),
        }
        import json

        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
