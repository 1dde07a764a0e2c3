"""The public lookup with and without the identity machinery, in one run: the cost of authentication, the security
headers and the shared rate limit, as a ratio, plus a check that the shared limit bites once across 2 workers.

Run: ``python benchmarks/settlement/bench_lookup_ab.py`` (about 8 minutes; needs PostgreSQL on 127.0.0.1:5432 and
Debian's ``wrk``). Writes ``benchmarks/settlement/results-lookup-identity.json``.

- "without": ``src`` of the last commit before the identity package was added (found with ``git log``, or
  ``--without <commit>``), taken out with ``git archive`` into a temporary folder;
- "with": a copy of the working tree's ``src`` taken when the run starts (so an edit during the run changes
  nothing), or with ``--with <commit>`` that commit's ``src``, taken out the same way as "without".

Each tree gets its own PostgreSQL store, created and filled (200 dossiers) by that tree's own code, and its own
``hopnhat serve --workers 2`` with ``PYTHONPATH=<its src>``; both servers stay up for the whole run. The public
rate limit is set far above the load (``HOPNHAT_PUBLIC_RATE_LIMIT_PER_MINUTE=100000000``), so nothing is refused and
the figure is the machinery's cost, not refusals. The same load then goes to one and the other in turn, without /
with / without / with / without / with (``--pairs 3``), for two shapes, interleaved:

- paced: 50 Python clients, each with its keep-alive connection, pausing 0.5 s between lookups (~100 lookups/s);
- back to back: ``wrk``, 50 keep-alive connections, no pause (the closed loop saturates the 2 cores).

Per run: p50/p90/p99/p99.9/max, lookups/s, CPU per lookup of the server processes, of the store's backends serving
that server, and of the whole machine (clients included), and the load average. Ratios are with / without.

Then the limit that bites: two more servers of the "with" tree (2 workers each, ``HOPNHAT_TRUSTED_PROXIES=127.0.0.1``
so each run can be one client address of its own through ``X-Forwarded-For``), one with a limit the load spends in
a few seconds and one with the default 120/min, each under ``wrk`` back to back, both runs inside one fixed minute
window of the limiter. Reported: answers 200 and 429, against the limit, and the store's bucket.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
SERVE = "from hopnhat.cli import main; main()"
PATH = "/api/v1/public/dossiers/"
NO_LIMIT = 100_000_000
DEFAULT_LIMIT = 120


# ---------------------------------------------------------------- store, run under either tree


def seed(url: str) -> None:
    """Schema and 200 dossiers, by the code on ``PYTHONPATH`` (old or new), like bench_lookup.py. Prints JSON."""
    from datetime import date

    import hopnhat
    from hopnhat.db import ensure_schema, make_engine, session_scope
    from hopnhat.registry import service as registry
    from hopnhat.registry.codes import CodeRule
    from hopnhat.settlement import service
    from hopnhat.settlement.catalog import load_sample
    from hopnhat.settlement.schemas import IntakeIn

    engine = make_engine(url)
    ensure_schema(engine)
    extra: dict[str, Any] = {}
    if "principal" in inspect.signature(service.intake).parameters:  # the identity tree: intakes need an officer
        from hopnhat.identity.principal import Principal
        from hopnhat.identity.roles import Role

        extra["principal"] = Principal(username="bench", roles=frozenset(Role), via="cli")
    with session_scope(engine) as s:
        registry.load(s)
        registry.issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(s)
        body = IntakeIn(procedure_code="1.001193", channel=2, applicant_name="Bench", commune_code="31135")
        codes = [service.intake(s, body, service.load_calendar(s), **extra).code for _ in range(200)]
    engine.dispose()
    print(json.dumps({"codes": codes, "hopnhat": hopnhat.__file__}))


def sync_cost(url: str, rounds: int = 300) -> None:
    """What the request that triggers the limiter's synchronisation waits for, less the thread-pool hop:
    ``SharedLimiter.sync()`` with one key counted since the last one (an upsert and a commit), in this process."""
    from hopnhat.db import make_engine
    from hopnhat.identity.limits import SharedLimiter

    engine = make_engine(url, pool_pre_ping=False)
    limiter = SharedLimiter(engine)
    times: list[float] = []
    for i in range(rounds + 20):
        for _ in range(10):
            limiter.allow("lookup:bench-sync-cost", NO_LIMIT)
        t = time.perf_counter()
        limiter.sync()
        if i >= 20:  # the first ones connect and prepare
            times.append(time.perf_counter() - t)
    engine.dispose()
    q = statistics.quantiles(times, n=100)
    print(
        json.dumps(
            {
                "syncs": len(times),
                "p50_ms": round(q[49] * 1000, 2),
                "p99_ms": round(q[98] * 1000, 2),
                "max_ms": round(max(times) * 1000, 2),
            }
        )
    )


# ---------------------------------------------------------------- measuring


def cpu_tree(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants."""
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
        total += (int(fields[11]) + int(fields[12])) / tick
        pending.extend(int(c) for c in children)
    return total


def cpu_backends(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (its process title names the database)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            if b"postgres: " not in cmd or f" {database} ".encode() not in cmd:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def backends_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (every core; idle and iowait excluded), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def client_cpu() -> float:
    """CPU seconds of this process (the paced clients' threads) and of its reaped children (each wrk run)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Meter:
    """CPU over one measured run: the server's, its store backends', the clients', and the whole machine's. What the
    machine spent beyond those three is other work on the shared machine, reported as a share of its cores: the
    figure that says whether a run's latency is the server's or the neighbours'."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server_pid, self.database = server_pid, database

    def __enter__(self) -> Meter:
        self.load_before = os.getloadavg()[0]
        self.server0 = cpu_tree(self.server_pid)
        self.db0 = cpu_backends(self.database)
        self.client0 = client_cpu()
        self.busy0 = machine_busy()
        self.t0 = time.time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.t1 = time.time()
        self.busy = machine_busy() - self.busy0
        self.client = client_cpu() - self.client0
        self.server = cpu_tree(self.server_pid) - self.server0
        self.db = backends_delta(self.db0, cpu_backends(self.database))
        self.load_after = os.getloadavg()[0]

    def per_lookup(self, n: int) -> dict[str, float]:
        wall = self.t1 - self.t0
        other = max(0.0, self.busy - self.server - self.db - self.client)
        return {
            "server_cpu_ms_per_lookup": round(self.server / n * 1000, 3),
            "db_cpu_ms_per_lookup": round(self.db / n * 1000, 3),
            "client_cpu_ms_per_lookup": round(self.client / n * 1000, 3),
            "machine_cpu_ms_per_lookup": round(self.busy / n * 1000, 3),
            "other_work_share_of_cores": round(other / (wall * (os.cpu_count() or 1)), 3),
            "load_before": round(self.load_before, 2),
            "load_after": round(self.load_after, 2),
            "t0": round(self.t0, 3),
            "t1": round(self.t1, 3),
        }


# ---------------------------------------------------------------- the limiter's synchronisations, traced

SYNC_TRACE = """
# Written by benchmarks/settlement/bench_lookup_ab.py: times each SharedLimiter.sync() call of this process.
import os, threading, time

_dir = os.environ.get("BENCH_SYNC_TRACE_DIR")
if _dir:
    from hopnhat.identity import limits as _limits

    _inner = _limits.SharedLimiter.sync
    _lock = threading.Lock()
    _active = [0]
    _path = os.path.join(_dir, "sync-%d.log" % os.getpid())

    def _traced(self, now=None):
        t0 = time.time()
        with _lock:
            _active[0] += 1
            at_once = _active[0]
        try:
            return _inner(self, now)
        finally:
            ms = (time.time() - t0) * 1000
            with _lock:
                _active[0] -= 1
                with open(_path, "a") as f:
                    f.write("%.4f %.3f %d\\n" % (t0, ms, at_once))

    _limits.SharedLimiter.sync = _traced
"""


def sync_trace_dir(work: Path) -> tuple[Path, Path]:
    """A ``sitecustomize`` for the "with" server's processes (uvicorn's workers are new interpreters with the same
    environment) that wraps ``SharedLimiter.sync`` and logs each call's start, duration and how many ran at once."""
    code, out = work / "trace", work / "trace-out"
    code.mkdir()
    out.mkdir()
    (code / "sitecustomize.py").write_text(SYNC_TRACE)
    return code, out


def syncs_between(out: Path, t0: float, t1: float, lookups: int) -> dict[str, Any]:
    """The traced synchronisations that started during a run: each one was awaited by one lookup."""
    calls: list[tuple[float, int]] = []
    for f in out.glob("sync-*.log"):
        for line in f.read_text().splitlines():
            start, ms, at_once = line.split()
            if t0 <= float(start) <= t1:
                calls.append((float(ms), int(at_once)))
    if not calls:
        return {"calls": 0}
    ms_sorted = sorted(c[0] for c in calls)
    return {
        "calls": len(calls),
        "calls_per_s": round(len(calls) / (t1 - t0), 2),
        "share_of_lookups": round(len(calls) / lookups, 4),
        "ms_p50": round(statistics.median(ms_sorted), 2),
        "ms_p90": round(ms_sorted[int(0.9 * (len(ms_sorted) - 1))], 2),
        "ms_max": round(ms_sorted[-1], 2),
        "most_at_once": max(c[1] for c in calls),
        "calls_with_another_running": sum(1 for c in calls if c[1] > 1),
    }


# ---------------------------------------------------------------- servers


class Server:
    def __init__(
        self,
        name: str,
        tree: Path,
        url: str,
        database: str,
        limit: int,
        workers: int,
        logs: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.tree, self.url, self.database = name, tree, url, database
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOPNHAT_")}
        env.update(
            PYTHONPATH=str(tree / "src"),
            HOPNHAT_PUBLIC_RATE_LIMIT_PER_MINUTE=str(limit),
            HOPNHAT_LOG_LEVEL="WARNING",
        )
        env.update(extra_env or {})
        if "BENCH_SYNC_TRACE_DIR" in env:
            env["PYTHONPATH"] += os.pathsep + env.pop("BENCH_SYNC_TRACE_CODE")
        cmd = [sys.executable, "-c", SERVE, "--db", url, "serve", "--port", str(self.port), "--workers", str(workers)]
        self.log = logs / f"server-{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT)
        self.workers = workers

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, code: str, expect_csp: bool) -> None:
        import httpx

        for _ in range(600):
            if self.proc.poll() is not None:
                raise SystemExit(f"server {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                r = httpx.get(self.base + PATH + code)
                if r.status_code == 200:
                    # Which tree answers: only the identity tree sets the security headers.
                    if ("content-security-policy" in r.headers) != expect_csp:
                        raise SystemExit(f"server {self.name} does not run the tree it should ({dict(r.headers)})")
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"server {self.name} did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------- loads


def quantiles(latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=1000)
    return {
        "p50_ms": round(q[499] * 1000, 2),
        "p90_ms": round(q[899] * 1000, 2),
        "p99_ms": round(q[989] * 1000, 2),
        "p999_ms": round(q[998] * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def paced(server: Server, codes: list[str], clients: int, requests: int, interval: float) -> dict[str, Any]:
    """``clients`` threads, each with its keep-alive connection, pausing ``interval`` s between lookups (as
    ``bench_lookup.py --workers 2 --interval 0.5``)."""
    import httpx

    base = server.base + PATH
    per_client = requests // clients
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=120)

    def client(k: int) -> None:
        mine: list[float] = []
        seen: dict[int, int] = {}
        try:
            with httpx.Client(timeout=60) as http:
                for i in range(5):  # warm-up, not measured
                    http.get(base + codes[(k + i) % len(codes)])
                ready.wait()
                for i in range(per_client):
                    t = time.perf_counter()
                    r = http.get(base + codes[(k * per_client + i) % len(codes)])
                    mine.append(time.perf_counter() - t)
                    seen[r.status_code] = seen.get(r.status_code, 0) + 1
                    time.sleep(interval)
        except Exception as exc:
            with lock:
                failures.append(f"client {k}: {type(exc).__name__}: {exc}")
            ready.abort()
        with lock:
            latencies.extend(mine)
            for s, n in seen.items():
                statuses[s] = statuses.get(s, 0) + n

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: reported below
        ready.wait()
    with Meter(server.proc.pid, server.database) as m:
        t0 = time.perf_counter()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
    if failures:
        raise SystemExit("; ".join(failures[:3]))
    n = len(latencies)
    return {
        "lookups": n,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(wall, 2),
        "req_per_s": round(n / wall, 1),
        **quantiles(latencies),
        **m.per_lookup(n),
    }


WRK_SCRIPT = """
codes = {%(codes)s}
headers = {%(headers)s}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "%(path)s" .. codes[(i %% #codes) + 1], headers)
end
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT p50=%%.3f p90=%%.3f p99=%%.3f p999=%%.3f max=%%.3f requests=%%d status_errors=%%d "
    .. "other_errors=%%d seconds=%%.3f\\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6))
end
"""


def wrk_script(codes: list[str], logs: Path, forwarded_for: str | None = None) -> Path:
    headers = f'["X-Forwarded-For"] = "{forwarded_for}"' if forwarded_for else ""
    script = WRK_SCRIPT % {"codes": ", ".join(f'"{c}"' for c in codes), "headers": headers, "path": PATH}
    path = logs / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    path.write_text(script)
    return path


def wrk(server: Server, script: Path, connections: int, seconds: float, warm: float = 3) -> dict[str, Any]:
    """``connections`` keep-alive connections from wrk, back to back, after ``warm`` s of the same unmeasured."""
    if warm:
        subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{warm:g}s", "-s", str(script), server.base],
            check=True,
            capture_output=True,
        )
    with Meter(server.proc.pid, server.database) as m:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), server.base],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    r = dict(kv.split("=") for kv in out.split("RESULT ", 1)[1].split())
    n = int(r["requests"])
    return {
        "lookups": n,
        "status_errors": int(r["status_errors"]),
        "other_errors": int(r["other_errors"]),
        "seconds": float(r["seconds"]),
        "req_per_s": round(n / float(r["seconds"]), 1),
        **{k + "_ms": round(float(r[k]), 2) for k in ("p50", "p90", "p99", "p999", "max")},
        **m.per_lookup(max(n, 1)),
    }


# ---------------------------------------------------------------- the run


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def core_speed() -> float:
    """Seconds for ten million turns of a plain Python loop, best of three (as benchmarks/sync records it)."""
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python_loop_10m_s": core_speed(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version.strip(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def create_database(admin: Any, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))


def drop_database(admin: Any, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


METRICS = (
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "req_per_s",
    "server_cpu_ms_per_lookup",
    "db_cpu_ms_per_lookup",
    "machine_cpu_ms_per_lookup",
)


def summarise(runs: list[dict[str, Any]], shape: str) -> dict[str, Any]:
    mine = [r for r in runs if r["shape"] == shape]
    out: dict[str, Any] = {}
    for variant in ("without", "with"):
        rs = [r for r in mine if r["variant"] == variant]
        out[variant] = {
            m: {
                "mean": round(statistics.fmean(r[m] for r in rs), 3),
                "min": min(r[m] for r in rs),
                "max": max(r[m] for r in rs),
            }
            for m in METRICS
        }
    out["ratio_with_over_without"] = {
        m: {
            "of_means": ratio(out["with"][m]["mean"], out["without"][m]["mean"]),
            "per_pair": [
                ratio(w[m], wo[m])
                for wo, w in zip(
                    [r for r in mine if r["variant"] == "without"],
                    [r for r in mine if r["variant"] == "with"],
                    strict=True,
                )
            ],
        }
        for m in METRICS
    }
    return out


def bite_run(
    server: Server, codes: list[str], logs: Path, limit: int, connections: int, seconds: float, engine: Any
) -> dict[str, Any]:
    from sqlalchemy import text

    address = f"198.51.100.{random.randint(1, 254)}"
    while True:  # a key never seen by this store: the run is its only traffic
        with engine.connect() as c:
            seen = c.execute(
                text("SELECT count(*) FROM identity_rate_bucket WHERE key = :k"), {"k": f"lookup:{address}"}
            ).scalar_one()
        if not seen:
            break
        address = f"198.51.100.{random.randint(1, 254)}"
    script = wrk_script(codes, logs, forwarded_for=address)
    window = int(time.time() // 60) * 60
    r = wrk(server, script, connections, seconds, warm=0)
    end_window = int(time.time() // 60) * 60
    time.sleep(0.2)
    with engine.connect() as c:
        stored = c.execute(
            text('SELECT "window", count FROM identity_rate_bucket WHERE key = :k ORDER BY "window"'),
            {"k": f"lookup:{address}"},
        ).all()
    ok = r["lookups"] - r["status_errors"]
    per_worker_rate = r["req_per_s"] / server.workers
    return {
        "limit_per_minute": limit,
        "workers": server.workers,
        "client_address": address,
        "inside_one_window": window == end_window,
        "answered": r["lookups"],
        "answered_200": ok,
        "answered_429_or_other_4xx_5xx": r["status_errors"],
        "transport_errors": r["other_errors"],
        "seconds": r["seconds"],
        "req_per_s": r["req_per_s"],
        "allowed_over_limit": ratio(ok, limit),
        "docstring_bound": min(server.workers * limit, round(limit + (server.workers - 1) * per_worker_rate * 1.0)),
        "store_bucket": [{"window": int(w), "count": int(n)} for w, n in stored],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "server_cpu_ms_per_answer": r["server_cpu_ms_per_lookup"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--sync-cost", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument(
        "--without",
        help="commit of the tree without identity (default: the parent of the commit that added src/hopnhat/identity)",
    )
    ap.add_argument(
        "--with",
        dest="with_commit",
        help="commit of the tree with identity (default: a copy of the working tree's src, uncommitted edits included)",
    )
    ap.add_argument("--pairs", type=int, default=3, help="without/with pairs per load shape")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--paced-requests", type=int, default=3000, help="lookups per paced run (50 clients, ~100/s)")
    ap.add_argument("--interval", type=float, default=0.5, help="pause of each paced client between lookups")
    ap.add_argument("--duration", type=float, default=20, help="seconds of each wrk run")
    ap.add_argument("--bite-limit", type=int, default=30_000, help="limit per minute the biting wrk run spends")
    ap.add_argument("--bite-duration", type=float, default=24)
    ap.add_argument("--no-bite", action="store_true")
    ap.add_argument("--no-trace", action="store_true", help="do not time the limiter's synchronisations")
    ap.add_argument("--out", type=Path, default=HERE / "results-lookup-identity.json")
    args = ap.parse_args()
    if args.seed:
        seed(args.seed)
        return
    if args.sync_cost:
        sync_cost(args.sync_cost)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    from sqlalchemy import create_engine

    started = datetime.now(UTC)
    t_start = time.perf_counter()
    added = git("log", "--diff-filter=A", "--format=%H", "--", "src/hopnhat/identity/__init__.py").splitlines()[-1]
    without = git("rev-parse", args.without or f"{added}^")
    work = Path(tempfile.mkdtemp(prefix="hopnhat-ab-"))
    logs = work / "logs"
    logs.mkdir()
    trees = {"without": work / "without", "with": work / "with"}
    for v, commit in (("without", without), ("with", args.with_commit)):
        trees[v].mkdir()
        if commit is None:
            shutil.copytree(ROOT / "src", trees[v] / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            continue
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(trees[v])], input=archive, check=True)
    uncommitted = [] if args.with_commit else git("status", "--porcelain", "--", "src").splitlines()
    info: dict[str, Any] = {
        "command": "python benchmarks/settlement/bench_lookup_ab.py " + " ".join(sys.argv[1:]),
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "without": {"commit": without, "note": "src of the parent of " + added[:7] + " (git archive)"},
        "with": {
            "commit": git("rev-parse", args.with_commit or "HEAD"),
            "uncommitted_src_files": uncommitted,
            "note": f"src of {args.with_commit} (git archive)"
            if args.with_commit
            else "copy of the working tree's src at the start of the run",
        },
        "params": {k: v for k, v in vars(args).items() if k not in ("seed", "out")} | {"rate_limit": NO_LIMIT},
    }
    print(
        f"without = {without[:7]}, with = {info['with']['note']}, {info['with']['commit'][:7]} "
        f"({len(uncommitted)} uncommitted src files); machine {info['machine']}",
        flush=True,
    )

    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    dbs = {v: f"hopnhat_ab_{v}_{uuid.uuid4().hex[:6]}" for v in trees}
    servers: list[Server] = []
    try:
        for db in dbs.values():
            create_database(admin, db)
        seeding = {
            v: subprocess.Popen(
                [sys.executable, __file__, "--seed", f"{PG}/{dbs[v]}"],
                env={k: x for k, x in os.environ.items() if not k.startswith("HOPNHAT_")}
                | {"PYTHONPATH": str(trees[v] / "src")},
                cwd=trees[v],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for v in trees
        }
        codes: dict[str, list[str]] = {}
        for v, p in seeding.items():
            out, err = p.communicate()
            if p.returncode:
                raise SystemExit(f"seeding {v} failed: {err[-3000:]}")
            seeded = json.loads(out.strip().splitlines()[-1])
            if not seeded["hopnhat"].startswith(str(trees[v])):
                raise SystemExit(f"seeding {v} imported {seeded['hopnhat']}")
            codes[v] = seeded["codes"]
        print(f"stores seeded ({time.perf_counter() - t_start:.0f} s)", flush=True)
        trace_env: dict[str, dict[str, str]] = {"without": {}, "with": {}}
        trace_out: Path | None = None
        if not args.no_trace:
            trace_code, trace_out = sync_trace_dir(work)
            trace_env["with"] = {"BENCH_SYNC_TRACE_DIR": str(trace_out), "BENCH_SYNC_TRACE_CODE": str(trace_code)}
        srv = {
            v: Server(v, trees[v], f"{PG}/{dbs[v]}", dbs[v], NO_LIMIT, args.workers, logs, trace_env[v]) for v in trees
        }
        servers.extend(srv.values())
        for v, s in srv.items():
            s.wait_ready(codes[v][0], expect_csp=(v == "with"))
        time.sleep(5)  # the first worker answered; the others finish create_app()
        scripts = {v: wrk_script(codes[v], logs) for v in trees}
        runs: list[dict[str, Any]] = []
        for pair in range(1, args.pairs + 1):
            for shape in ("paced", "back_to_back"):
                for v in ("without", "with"):
                    if shape == "paced":
                        r = paced(srv[v], codes[v], args.clients, args.paced_requests, args.interval)
                    else:
                        r = wrk(srv[v], scripts[v], args.clients, args.duration)
                    r = {
                        "pair": pair,
                        "shape": shape,
                        "variant": v,
                        "at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                    } | r
                    if v == "with" and trace_out is not None:
                        r["limiter_syncs"] = syncs_between(trace_out, r["t0"], r["t1"], r["lookups"])
                    runs.append(r)
                    print(
                        f"pair {pair} {shape:12} {v:7}: p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                        f"p99.9 {r['p999_ms']:6.1f} ms  {r['req_per_s']:7.1f}/s  server CPU "
                        f"{r['server_cpu_ms_per_lookup']:.3f} ms/lookup  db {r['db_cpu_ms_per_lookup']:.3f}  "
                        f"other work {r['other_work_share_of_cores']:.0%} of the cores  load {r['load_before']:.1f}"
                        + (f"  syncs {r['limiter_syncs']}" if "limiter_syncs" in r else ""),
                        flush=True,
                    )
        info["runs"] = runs
        info["summary"] = {shape: summarise(runs, shape) for shape in ("paced", "back_to_back")}
        for shape, s in info["summary"].items():
            rat = s["ratio_with_over_without"]
            print(
                f"{shape}: with/without p50 {rat['p50_ms']['of_means']}, p99 {rat['p99_ms']['of_means']} "
                f"{rat['p99_ms']['per_pair']}, req/s {rat['req_per_s']['of_means']}, server CPU/lookup "
                f"{rat['server_cpu_ms_per_lookup']['of_means']}, machine CPU/lookup "
                f"{rat['machine_cpu_ms_per_lookup']['of_means']}",
                flush=True,
            )
        for s in servers:
            s.stop()
        servers.clear()
        cost = subprocess.run(
            [sys.executable, __file__, "--sync-cost", f"{PG}/{dbs['with']}"],
            env={k: x for k, x in os.environ.items() if not k.startswith("HOPNHAT_")}
            | {"PYTHONPATH": str(trees["with"] / "src")},
            cwd=trees["with"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        info["limiter_sync_in_process"] = json.loads(cost.strip().splitlines()[-1])
        print(f"SharedLimiter.sync() in-process, one key: {info['limiter_sync_in_process']}", flush=True)

        if not args.no_bite:
            proxies = {"HOPNHAT_TRUSTED_PROXIES": "127.0.0.1"}
            url = f"{PG}/{dbs['with']}"
            bite = {
                "high": Server(
                    "bite-high", trees["with"], url, dbs["with"], args.bite_limit, args.workers, logs, proxies
                ),
                "default": Server(
                    "bite-default", trees["with"], url, dbs["with"], DEFAULT_LIMIT, args.workers, logs, proxies
                ),
            }
            servers.extend(bite.values())
            for s in bite.values():
                s.wait_ready(codes["with"][0], expect_csp=True)
            time.sleep(5)
            for s in bite.values():  # connections and statement caches, under the peer's own key
                subprocess.run(
                    ["wrk", "-t2", f"-c{args.clients}", "-d2s", "-s", str(scripts["with"]), s.base],
                    check=True,
                    capture_output=True,
                )
            # Both runs inside one fixed minute of the limiter (each with a client address of its own).
            needed = 2 * args.bite_duration + 6
            wait = 60 - time.time() % 60 + 0.3
            if needed > 60:
                raise SystemExit("--bite-duration too long for two runs in one minute")
            print(f"limit check: waiting {wait:.0f} s for the next minute window", flush=True)
            time.sleep(wait)
            engine = create_engine(url)
            try:
                results = []
                for kind in ("high", "default"):
                    limit = args.bite_limit if kind == "high" else DEFAULT_LIMIT
                    r = bite_run(bite[kind], codes["with"], logs, limit, args.clients, args.bite_duration, engine)
                    results.append(r)
                    print(
                        f"limit {limit}/min, {args.workers} workers, wrk -c{args.clients} for "
                        f"{args.bite_duration:g} s: {r['answered']} answers, {r['answered_200']} x 200, "
                        f"{r['answered_429_or_other_4xx_5xx']} x 429 ({r['allowed_over_limit']} x the limit; "
                        f"store bucket {r['store_bucket']}; one window: {r['inside_one_window']})",
                        flush=True,
                    )
            finally:
                engine.dispose()
            info["limit_check"] = results
    finally:
        for s in servers:
            s.stop()
        for db in dbs.values():
            drop_database(admin, db)
        admin.dispose()
    info["finished_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
    info["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"written {args.out} ({info['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
