"""Plain factories shared by the sync tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.config import province_code
from hopnhat.db import ensure_schema, make_engine
from hopnhat.registry.loader import load_bundled
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.engine import COUNT_KEYS
from hopnhat.sync.models import QuarantinedRecord, SourceCopy


def store(url: str) -> Engine:
    """A migrated store with the registry loaded (the sync remaps through it): the deployment's province and the
    provinces it was formed from, which is every unit a former system of it names (the whole country takes 2-4 s
    more to load, in every test that makes a store)."""
    engine = make_engine(url)
    ensure_schema(engine)
    with Session(engine) as session:
        load_bundled(session, [province_code()])
        session.commit()
    return engine


def config(out: Path, **overrides: Any) -> dict[str, dict[str, Any]]:
    cfg = service.load_config(out / "sources.toml")
    for options in cfg.values():
        options.update(overrides)
        options.setdefault("backoff_seconds", 0.01)
    return cfg


def snapshot(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """What a user sees of the consolidated store: every dossier's mapped content and where it came from."""
    with Session(engine) as session:
        rows = session.execute(
            select(Dossier.code, Dossier.row_hash, Dossier.status, Dossier.unit_code, Dossier.source_name)
        ).all()
        copies = session.execute(select(SourceCopy.source, SourceCopy.source_id, SourceCopy.row_hash)).all()
        held = session.execute(
            select(QuarantinedRecord.source, QuarantinedRecord.source_id, QuarantinedRecord.state)
        ).all()
    return {
        "dossiers": tuple(sorted(tuple(r) for r in rows)),
        "copies": tuple(sorted(tuple(r) for r in copies)),
        "quarantine": tuple(sorted(tuple(r) for r in held)),
    }


def manifest(out: Path) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = json.loads((out / "faults_manifest.json").read_text())["faults"]
    return faults


def expected(out: Path) -> dict[str, Any]:
    counts: dict[str, Any] = json.loads((out / "expected.json").read_text())
    return counts


def _plain(value: Any) -> Any:
    """The same text for the same value on SQLite and PostgreSQL (times in UTC, JSON as is)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return value if isinstance(value, dict | list | int | bool | None) else str(value)


def dossier_digest(engine: Engine) -> str:
    """SHA-256 of every dossier row's content (all columns but the store's own ids and timestamps), in code order:
    two stores with the same digest hold the same dossiers."""
    skip = {"id", "created_at", "updated_at"}
    columns = [c for c in Dossier.__table__.columns if c.name not in skip]
    digest = hashlib.sha256()
    with Session(engine) as session:
        for row in session.execute(select(*columns).order_by(Dossier.code)):
            digest.update(json.dumps([_plain(v) for v in row], ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()


def sync_process(url: str, cfg: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A real ``hopnhat sync run --json`` process on the store at ``url`` (stdout: the JSON counts)."""
    command = ["sync", "run", "--config", str(cfg), "--json", *extra]
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "hopnhat"), "--db", url, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HOPNHAT_DATABASE_URL": url},
    )


def wait_for(
    engine: Engine, processes: list[subprocess.Popen[bytes]], done: Callable[[Session], bool], seconds: float = 90
) -> None:
    """Until ``done`` holds in the store; fails when it never will (a process ended without it, or time ran out)."""
    deadline = time.monotonic() + seconds
    with Session(engine) as session:
        while True:
            ended = [p for p in processes if p.poll() is not None]
            session.rollback()
            if done(session):
                return
            assert not ended, ended[0].communicate()[1].decode()
            assert time.monotonic() < deadline, "the sync processes never got there"
            time.sleep(0.02)


def six_counts(stdout: bytes) -> dict[str, dict[str, int]]:
    """The ``--json`` output of ``sync run``, checked to be per source exactly the six counts, as integers."""
    counts: dict[str, dict[str, int]] = json.loads(stdout)
    for name, c in counts.items():
        assert list(c) == list(COUNT_KEYS), (name, c)
        assert all(type(v) is int and v >= 0 for v in c.values()), (name, c)
    return counts


def identity_holds(counts: dict[str, Any]) -> bool:
    parts = ("inserted", "updated", "unchanged", "quarantined", "duplicates")
    return bool(counts["extracted"] == sum(counts[k] for k in parts))
