"""Settlement throughput: intakes and status changes per second (SQLite and PostgreSQL), due dates per second.

Run: ``python benchmarks/settlement/bench.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432] [-n 500]``.
Each intake and each status change is its own committed transaction, as an officer's request would be.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import create_engine, text

from hopnhat.config import VN_TZ
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.settlement import service
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.settlement.catalog import load_sample
from hopnhat.settlement.schemas import IntakeIn


def run_store(url: str, n: int) -> dict[str, float]:
    engine = make_engine(url)
    ensure_schema(engine)
    with session_scope(engine) as s:
        registry.load(s)
        registry.issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(s)
    cal = WorkCalendar()
    body = IntakeIn(procedure_code="1.001193", channel=2, applicant_name="Bench", commune_code="31135")
    codes: list[str] = []
    t = time.perf_counter()
    for _ in range(n):
        with session_scope(engine) as s:
            codes.append(service.intake(s, body, cal).code)
    intake_rate = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for code in codes:
        with session_scope(engine) as s:
            service.change_status(s, code, 4, actor="bench", calendar=cal, at=datetime.now(UTC))
    change_rate = n / (time.perf_counter() - t)
    engine.dispose()
    return {"intakes_per_s": round(intake_rate), "status_changes_per_s": round(change_rate)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    ap.add_argument("-n", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite", run_store(f"sqlite:///{tmp}/bench.db", args.n))
    name = f"hopnhat_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{args.pg}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        print("postgresql", run_store(f"{args.pg}/{name}", args.n))
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    cal = WorkCalendar()
    start = datetime(2026, 2, 10, 9, tzinfo=VN_TZ)
    t = time.perf_counter()
    for _ in range(20000):
        cal.add_working_days(start, 15)
    print("due dates (15 working days across Tết 2026) per s:", round(20000 / (time.perf_counter() - t)))


if __name__ == "__main__":
    main()
