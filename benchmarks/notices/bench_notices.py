"""Notices per second through the outbox to a local SMTP server, and the duplicate ids seen across a relay's kill.

    python benchmarks/notices/bench_notices.py --notices 5000 --repeat 3 --kills 3 --out benchmarks/notices/results.json

Data: a fresh SQLite store (or a new PostgreSQL database with ``--backend postgresql``) with N dossiers, each
received through the real workflow (``settlement.workflow.act``, action ``receive``) with an e-mail and consent, so
the outbox holds N receipt notices written by ``enqueue_notices``. The SMTP server is aiosmtpd run as a process
(``tests/notices/smtp_sink.py``), which appends each Message-ID it accepts to a file.

Modes, taking turns ``--repeat`` times on fresh stores so load from other jobs hits all of them:
- ``outbox_reuse_4``: the notice relay (claim, render, send, record) over 4 reused SMTP connections: the product's
  default (``HOPNHAT_SMTP_CONNECTIONS``);
- ``outbox_reuse_1``: the same over one reused connection;
- ``outbox_no_reuse``: the same relay, one SMTP connection per message, one at a time: the anchor the issue names;
- ``smtplib_direct``: prebuilt messages over one ``smtplib`` connection, no store: the ceiling of the SMTP server.

Kill: ``--kills`` times, a ``hopnhat notices relay`` process is SIGKILLed once the SMTP server has 37 % of the
notices (inside a batch of 200; the server delays each message 1 ms), then ``--once`` is run; the run counts
the ids received, the distinct ids, the duplicates (received - distinct) and whether every notice arrived.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
SINK = ROOT / "tests" / "notices" / "smtp_sink.py"
HOPNHAT = str(Path(sys.executable).with_name("hopnhat"))
RECEIVED = datetime(2026, 2, 10, 2, 30, tzinfo=UTC)


def free_port() -> int:
    from hopnhat.portal.simulator import free_port as port

    return port()


def new_store(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / f'store-{uuid.uuid4().hex[:6]}.db'}"
    name = f"hopnhat_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_store(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill(url: str, n: int) -> None:
    """N dossiers received through the workflow, each queuing one e-mail receipt notice."""
    from hopnhat.db import ensure_schema, make_engine, session_scope
    from hopnhat.settlement.schemas import ActionIn
    from hopnhat.settlement.service import load_calendar
    from hopnhat.settlement.workflow import act
    from hopnhat.store.models import Dossier

    os.environ["HOPNHAT_NOTICE_CHANNELS"] = "email"  # enqueue_notices reads the channels from the settings
    engine = make_engine(url)
    ensure_schema(engine)
    with session_scope(engine) as s:
        calendar = load_calendar(s)
        for i in range(n):
            d = Dossier(
                code=f"000.00.31.H13-260210-{i:05d}",
                province_code="92",
                procedure_code="1.001193",
                procedure_name="Đăng ký khai sinh",
                status=1,
                channel=2,
                received_at=RECEIVED,
                due_at=RECEIVED + timedelta(days=3),
                center_code="000.00.31.H13",
                applicant_email=f"cong.dan.{i}@example.vn",
                notice_consent=True,
            )
            s.add(d)
            s.flush()
            act(s, d, ActionIn(action="receive"), actor="bench", at=RECEIVED, calendar=calendar)
    engine.dispose()


class Sink:
    def __init__(self, folder: Path, delay_ms: int = 0) -> None:
        self.port = free_port()
        self.record = folder / f"smtp-{uuid.uuid4().hex[:6]}.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(SINK), str(self.port), str(self.record), str(delay_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def ids(self) -> list[str]:
        if not self.record.exists():
            return []
        return [line.split()[0] for line in self.record.read_text().splitlines() if line.strip()]

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_outbox(url: str, n: int, sink: Sink, reuse: bool, connections: int) -> dict[str, Any]:
    from hopnhat.config import Settings
    from hopnhat.db import make_engine
    from hopnhat.notices.relay import NoticeRelay
    from hopnhat.notices.senders import SmtpConfig, SmtpSender

    settings = Settings(database_url=url, smtp_host="127.0.0.1", smtp_port=sink.port)
    engine = make_engine(url)
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", port=sink.port, reuse=reuse, connections=connections))
    relay = NoticeRelay(engine, "email", sender, settings)
    cpu0, sink0 = time.process_time(), sink.cpu()
    t0 = time.perf_counter()
    delivered = relay.drain(timeout=3600)
    seconds = time.perf_counter() - t0
    cpu, sink_cpu = time.process_time() - cpu0, sink.cpu() - sink0
    relay.close()
    engine.dispose()
    ids = sink.ids()
    assert delivered == n and len(set(ids)) == n, (delivered, len(set(ids)))
    return {
        "seconds": round(seconds, 3),
        "per_second": round(n / seconds, 1),
        "relay_cpu_ms_per_notice": round(cpu * 1000 / n, 3),
        "smtp_server_cpu_ms_per_notice": round(sink_cpu * 1000 / n, 3),
    }


def run_direct(n: int, sink: Sink) -> dict[str, Any]:
    from email.message import EmailMessage

    messages = []
    for i in range(n):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "hopnhat@localhost", f"cong.dan.{i}@example.vn", "Đã tiếp nhận hồ sơ"
        m["Message-ID"] = f"<direct-{i}@localhost>"
        m.set_content("Kính gửi Quý ông/bà,\n\nTrung tâm đã tiếp nhận hồ sơ.\n" * 4, charset="utf-8")
        messages.append(m)
    cpu0, sink0 = time.process_time(), sink.cpu()
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for m in messages:
            smtp.send_message(m)
    seconds = time.perf_counter() - t0
    cpu, sink_cpu = time.process_time() - cpu0, sink.cpu() - sink0
    assert len(set(sink.ids())) == n
    return {
        "seconds": round(seconds, 3),
        "per_second": round(n / seconds, 1),
        "relay_cpu_ms_per_notice": round(cpu * 1000 / n, 3),
        "smtp_server_cpu_ms_per_notice": round(sink_cpu * 1000 / n, 3),
    }


def run_kill(url: str, n: int, folder: Path) -> dict[str, Any]:
    sink = Sink(folder, delay_ms=1)
    env = {
        **os.environ,
        "HOPNHAT_DATABASE_URL": url,
        "HOPNHAT_SMTP_HOST": "127.0.0.1",
        "HOPNHAT_SMTP_PORT": str(sink.port),
    }
    cmd = [HOPNHAT, "notices", "relay", "--channel", "email", "--lease-seconds", "1"]
    try:
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # 37 % + 1: not a multiple of the relay's batch of 200, so the kill falls inside a batch, not between two.
        while len(sink.ids()) < int(n * 0.37) + 1:
            if first.poll() is not None:
                raise RuntimeError("the relay ended before the kill")
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = len(sink.ids())
        subprocess.run([*cmd, "--once"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
        ids = sink.ids()
    finally:
        sink.stop()
    return {
        "received_at_kill": at_kill,
        "received": len(ids),
        "distinct_ids": len(set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "all_delivered": len(set(ids)) == n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--kill-notices", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    modes = {"outbox_reuse_4": (True, 4), "outbox_reuse_1": (True, 1), "outbox_no_reuse": (False, 1)}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in [*modes, "smtplib_direct"]}
    kills: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for turn in range(args.repeat):
            for mode in runs:
                sink = Sink(folder)
                url = new_store(args.backend, folder)
                try:
                    if mode == "smtplib_direct":
                        result = run_direct(args.notices, sink)
                    else:
                        fill(url, args.notices)
                        result = run_outbox(url, args.notices, sink, *modes[mode])
                finally:
                    sink.stop()
                    drop_store(url)
                runs[mode].append(result)
                print(f"turn {turn + 1} {mode}: {result}", flush=True)
        for k in range(args.kills):
            url = new_store(args.backend, folder)
            try:
                fill(url, args.kill_notices)
                result = run_kill(url, args.kill_notices, folder)
            finally:
                drop_store(url)
            kills.append(result)
            print(f"kill {k + 1}: {result}", flush=True)
    medians = {mode: median(r["per_second"] for r in rs) for mode, rs in runs.items()}
    anchor = medians["outbox_no_reuse"]
    summary = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backend": args.backend,
        "notices": args.notices,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024},
        "median_per_second": medians,
        "ratio_to_no_reuse": {mode: round(v / anchor, 2) for mode, v in medians.items()},
        "runs": runs,
        "kills": kills,
        "duplicates_across_kills": [k["duplicates"] for k in kills],
        "every_notice_delivered_after_kill": all(k["all_delivered"] for k in kills),
    }  # fmt: skip
    print(json.dumps({k: summary[k] for k in ("median_per_second", "ratio_to_no_reuse", "duplicates_across_kills")}))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
