"""Stores with data for the operations tests: dossiers with steps, a chained audit log, scans on disk."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.db import session_scope
from hopnhat.identity import audit
from hopnhat.identity.roles import Role
from hopnhat.store.models import Dossier, ProcessingStep
from tests.identity_support import principal

HOPNHAT = str(Path(sys.executable).parent / "hopnhat")


def fill(engine: Engine, files: Path | None = None, dossiers: int = 12) -> None:
    """A few dossiers with Vietnamese names and steps, audited reads sealed into the chain, two scans."""
    start = datetime(2025, 7, 1, 1, 30, tzinfo=UTC)
    who = principal(Role.DATA_STEWARD)
    with session_scope(engine) as session:
        for n in range(dossiers):
            dossier = Dossier(
                code=f"000.00.31.H13-250701-{n + 1:04d}",
                province_code="92",
                procedure_code="1.001193",
                applicant_name=f"Nguyễn Thị Ánh {n}",
                applicant_id_number=f"0920{n:08d}",
                status=2,
                received_at=start + timedelta(hours=n),
                extra={"ghi_chú": "hồ sơ mẫu", "n": n},
            )
            dossier.steps.append(
                ProcessingStep(seq=1, at=start + timedelta(hours=n), actor="officer", to_status=2, note="Tiếp nhận")
            )
            session.add(dossier)
            audit.record(session, who, "dossier.read", object_type="dossier", object_id=dossier.code)
    audit.seal_now(engine, None)
    if files is not None:
        (files / "2025" / "07").mkdir(parents=True, exist_ok=True)
        (files / "2025" / "07" / "scan-0001.pdf").write_bytes(b"%PDF-1.4 scan " * 100)
        (files / "giay-to.png").write_bytes(bytes(range(256)) * 4)


def run(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A ``hopnhat`` command as an operator types it, run in this process (the commands' own code, exit code,
    stdout and stderr; a second of interpreter start-up saved per call). ``serve`` and the services run as real
    processes elsewhere."""
    from typer.testing import CliRunner

    from hopnhat.cli import app

    result = CliRunner().invoke(app, ["--db", url, *args], env=env)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


class PrivateCluster:
    """A PostgreSQL cluster of this test alone, on its own port (tests that need the server to fail never stop the
    shared one). Started with ``runuser -u postgres``: the server refuses to run as root."""

    def __init__(self, port: int) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = bins[-1].parent
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="hopnhat-pg-", dir="/tmp"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", str(self.dir / "log"), "start"
        )

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    from tests.http_support import free_port

    cluster = PrivateCluster(free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def start(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A long-running ``hopnhat`` command, as systemd starts it."""
    return subprocess.Popen(
        [HOPNHAT, "--db", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_until(
    engine: Engine, proc: subprocess.Popen[str], done: Callable[[Session], bool], seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    with Session(engine) as session:
        while not done(session):
            session.rollback()
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the command never got there"
            time.sleep(0.1)


def terminate(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, as ``systemctl stop`` sends it; the command must exit 0."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err
