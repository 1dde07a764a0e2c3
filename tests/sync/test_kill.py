"""A sync process killed with SIGKILL in the middle of a run, then resumed, leaves the same store as a run that
was never interrupted: batches and cursor are committed together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.legacy import generate, serve_in_thread
from hopnhat.sync.models import SyncCursor, SyncRun
from tests.sync.helpers import snapshot, store


def _sync(url: str, cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "hopnhat"), "--db", url, "sync", "run", "--config", str(cfg), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HOPNHAT_DATABASE_URL": url},
    )


def test_sigkill_mid_run_then_resume_gives_the_same_store(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=1500, seed=11, fault_rate=0.05, sql="sqlite", xlsx=False)
    cfg = out / "sources.toml"
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    with serve_in_thread(out):
        cfg.write_text(cfg.read_text().replace("batch_size = 5000", "batch_size = 20"))
        engine = store(store_url)
        victim = _sync(store_url, cfg)
        deadline = time.monotonic() + 120
        with Session(engine) as session:
            while time.monotonic() < deadline and victim.poll() is None:
                if session.scalar(select(func.count()).select_from(SyncCursor)):
                    break
                session.rollback()
                time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert victim.returncode == -signal.SIGKILL
        with Session(engine) as session:
            # The kill landed mid-run: the run never finished.
            assert session.scalar(select(SyncRun.state).order_by(SyncRun.id.desc()).limit(1)) == "running"
        resumed = _sync(store_url, cfg)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read() if resumed.stderr else ""

        reference = store(reference_url)
        uninterrupted = _sync(reference_url, cfg)
        assert uninterrupted.wait(timeout=300) == 0
    assert snapshot(engine) == snapshot(reference)
    engine.dispose()
    reference.dispose()
