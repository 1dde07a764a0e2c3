"""``sync run --watch``: one resident process through the parallel run, bringing each change of the old systems
as it happens, and stopping cleanly when its service manager says so (SIGTERM)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.legacy import generate, serve_in_thread, tick
from hopnhat.sync.models import SyncLock, SyncRun
from tests.sync.helpers import identity_holds, six_counts, store, sync_process, wait_for


def _runs_done(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.state == "done")) or 0)


def test_watch_brings_each_tick_and_stops_cleanly_on_sigterm(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=150, seed=21, fault_rate=0.02, sql="sqlite", xlsx=False)
    cfg = out / "sources.toml"
    engine = store(store_url)
    with serve_in_thread(out):
        watcher = sync_process(store_url, cfg, "--watch", "0.5")
        try:
            wait_for(engine, [watcher], lambda s: _runs_done(s) >= 1, seconds=180)
            tick(out, minutes=600, new_per_hour=20, corrections_per_hour=20)
            # The run going on now may have read the sources before the tick; the one after it cannot have.
            with Session(engine) as session:
                after_tick = _runs_done(session) + 2
            wait_for(engine, [watcher], lambda s: _runs_done(s) >= after_tick, seconds=180)
            # Stop it in the middle of a run, which must still finish.
            running: list[int] = []

            def in_progress(session: Session) -> bool:
                running[:] = session.scalars(select(SyncRun.id).where(SyncRun.state == "running")).all()
                return bool(running)

            wait_for(engine, [watcher], in_progress, seconds=60)
        finally:
            watcher.send_signal(signal.SIGTERM)
            stdout, stderr = watcher.communicate(timeout=120)
        assert watcher.returncode == 0, stderr.decode()
        lines = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
        assert len(lines) >= 3
        assert all(identity_holds(c) for counts in lines for c in counts.values())
        assert sum(c["inserted"] for c in lines[0].values()) > 100
        brought = sum(c["inserted"] + c["updated"] for counts in lines[1:] for c in counts.values())
        assert brought > 0, "the tick's new and changed dossiers never came through the watch"

        # Nothing left for a one-shot run to do, and nothing left held.
        once = sync_process(store_url, cfg)
        out_once, err_once = once.communicate(timeout=120)
        assert once.returncode == 0, err_once.decode()
        assert all(c["inserted"] == c["updated"] == 0 for c in six_counts(out_once).values())
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SyncLock)) == 0
        assert set(session.scalars(select(SyncRun.state))) == {"done"}  # SIGTERM let the last run finish
        caught = session.get(SyncRun, running[0])
        assert caught is not None and caught.state == "done"
    engine.dispose()


def test_watch_with_a_run_limit_prints_one_json_line_per_run(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=22, fault_rate=0.0, sql="sqlite", xlsx=False)
    store(store_url).dispose()
    with serve_in_thread(out):
        command = ["sync", "run", "--config", str(out / "sources.toml"), "--json", "--watch", "0.05", "--runs", "2"]
        result = CliRunner().invoke(app, ["--db", store_url, *command])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert sum(c["inserted"] for c in first.values()) > 0
    assert all(c["inserted"] == c["updated"] == 0 for c in second.values())  # the second run found nothing new
    refused = CliRunner().invoke(app, ["--db", store_url, "sync", "run", "--config", "x.toml", "--runs", "2"])
    assert refused.exit_code == 2 and "--watch" in refused.output
