"""Two real sync processes on one PostgreSQL store (workers on several machines share one) never work on the same
source at once: the second finds the source locked and leaves it, and nothing is loaded twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.legacy import generate, serve_in_thread
from hopnhat.sync import service
from hopnhat.sync.models import SyncLock, SyncRunSource
from tests.sync.helpers import (
    config,
    dossier_digest,
    expected,
    identity_holds,
    six_counts,
    store,
    sync_process,
    wait_for,
)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_processes_never_sync_the_same_source_at_once(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=300, seed=13, fault_rate=0.0, sql="sqlite", xlsx=False)
    cfg = out / "sources.toml"
    engine = store(store_url)
    with serve_in_thread(out):
        # Both start together; Cần Thơ is down (and retried) until one process holds it and the other has come to it
        # and left it; then it comes back so the holder finishes it.
        patient = "timeout_seconds = 10\nretries = 14\nbackoff_seconds = 0.05"
        cfg.write_text(cfg.read_text().replace("timeout_seconds = 10", patient))
        (out / "faults.json").write_text(json.dumps({"down": True}))
        workers = [sync_process(store_url, cfg), sync_process(store_url, cfg)]
        skipped = select(SyncRunSource).where(SyncRunSource.source == "cantho", SyncRunSource.state == "skipped")
        wait_for(engine, workers, lambda s: s.scalars(skipped).first() is not None)
        (out / "faults.json").write_text(json.dumps({"down": False}))
        outputs = [p.communicate(timeout=120) for p in workers]
    with Session(engine) as session:
        states: dict[str, list[tuple[int, str]]] = {}
        for rs in session.scalars(select(SyncRunSource).order_by(SyncRunSource.run_id)):
            states.setdefault(rs.source, []).append((rs.run_id, rs.state))
            if rs.state == "skipped":
                assert "another process is syncing it" in (rs.error or "")
        assert session.scalars(select(SyncLock)).all() == []  # both released what they held
    # One process met the other's lock: it left Cần Thơ to the holder.
    assert sorted(state for _, state in states["cantho"]) == ["done", "skipped"], states
    counts = [six_counts(stdout) for stdout, _ in outputs]
    rows = expected(out)["sources"]
    for source, distinct in ((s, rows[s]["distinct_ids"]) for s in rows):
        assert any(state == "done" for _, state in states[source]), (source, states)
        assert all(identity_holds(c[source]) for c in counts)
        # Had both processes worked on a source at the same time, its dossiers would be inserted twice (or fail).
        assert sum(c[source]["inserted"] for c in counts) == distinct, (source, counts)

    reference = store(f"sqlite:///{tmp_path / 'reference.db'}")
    with serve_in_thread(out):
        service.run(reference, config(out))
    assert dossier_digest(engine) == dossier_digest(reference)
    engine.dispose()
    reference.dispose()
