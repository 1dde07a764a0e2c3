"""A sync process killed with SIGKILL in the middle of a run, then resumed, leaves the same store as a run that
was never interrupted: batches and cursor are committed together."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.legacy import generate, serve_in_thread
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.models import SyncCursor, SyncRun
from tests.sync.helpers import (
    config,
    dossier_digest,
    expected,
    identity_holds,
    snapshot,
    store,
    sync_process,
)


def test_sigkill_mid_run_then_resume_gives_the_same_store(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=400, seed=11, fault_rate=0.05, sql="sqlite", xlsx=False)
    cfg = out / "sources.toml"
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    with serve_in_thread(out):
        cfg.write_text(cfg.read_text().replace("batch_size = 5000", "batch_size = 20"))
        engine = store(store_url)
        victim = sync_process(store_url, cfg)
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
            # The kill landed mid-run: the run never finished, and only part of the dossiers were loaded.
            assert session.scalar(select(SyncRun.state).order_by(SyncRun.id.desc()).limit(1)) == "running"
            loaded = session.scalar(select(func.count()).select_from(Dossier)) or 0
        assert 0 < loaded < expected(out)["dossiers"] * 0.9
        # The resumed and the uninterrupted runs go through the service the command calls, in this process (two
        # process starts less); the dead process's lock is taken over as a restarted command would.
        _, resumed = service.run(engine, config(out))
        assert all(r["state"] == "done" and identity_holds(r) for r in resumed.values()), resumed
        with Session(engine) as session:
            # The next start closed the killed run: no run stays running.
            killed = session.scalars(select(SyncRun).order_by(SyncRun.id).limit(1)).one()
            assert killed.state == "failed" and f":{victim.pid})" in (killed.reason or ""), killed.reason
            assert "died" in (killed.reason or "")
        reference = store(reference_url)
        _, counts = service.run(reference, config(out))
    rows = expected(out)["sources"]
    assert all(counts[s]["extracted"] == rows[s]["rows"] and identity_holds(counts[s]) for s in rows), counts
    assert dossier_digest(engine) == dossier_digest(reference)
    assert snapshot(engine) == snapshot(reference)  # provenance and quarantine too
    engine.dispose()
    reference.dispose()
