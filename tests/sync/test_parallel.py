"""Sources synced at once, one process each (``sync run --jobs N``), leave exactly the store a run of one source
after the other leaves: their batches meet at the store's write gate, and transferred dossiers (the same code in two
systems) go to the same copy whichever process reaches the gate first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hopnhat.legacy import generate, serve_in_thread
from hopnhat.store.models import Dossier
from tests.sync.helpers import dossier_digest, identity_holds, six_counts, snapshot, store, sync_process


def _run(url: str, cfg: Path, jobs: int) -> dict[str, dict[str, int]]:
    process = sync_process(url, cfg, "--jobs", str(jobs))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()[-2000:]
    return six_counts(out)


@pytest.mark.parametrize("new_store_url", ["sqlite", "postgresql"], indirect=True)
def test_sources_in_parallel_leave_the_store_a_sequential_run_leaves(tmp_path: Path, new_store_url: str) -> None:
    out = tmp_path / "legacy"
    # A high fault rate: many transferred dossiers (the cross-source races) and duplicates within sources.
    generate(out, dossiers=600, seed=23, fault_rate=0.08, sql="sqlite", xlsx=False)
    cfg = out / "sources.toml"
    # Small batches: the three processes take turns at the gate many times.
    cfg.write_text(cfg.read_text().replace("batch_size = 5000", "batch_size = 25"))
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    parallel, reference = store(new_store_url), store(reference_url)
    with serve_in_thread(out):
        together = _run(new_store_url, cfg, jobs=3)
        one_by_one = _run(reference_url, cfg, jobs=1)
    assert set(together) == {"cantho", "haugiang", "soctrang"}
    assert all(identity_holds(c) for c in together.values()), together
    assert {s: c["extracted"] for s, c in together.items()} == {s: c["extracted"] for s, c in one_by_one.items()}
    assert sum(c["inserted"] for c in together.values()) == sum(c["inserted"] for c in one_by_one.values())
    assert snapshot(parallel) == snapshot(reference)
    assert dossier_digest(parallel) == dossier_digest(reference)
    parallel.dispose()
    reference.dispose()


def test_reconcile_in_parallel_reports_what_a_sequential_one_reports(tmp_path: Path) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=300, seed=29, fault_rate=0.05, sql="sqlite", xlsx=False)
    cfg = out / "sources.toml"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = store(url)
    with serve_in_thread(out):
        _run(url, cfg, jobs=3)
        with Session(engine) as session:
            gone = session.scalars(select(Dossier.code).where(Dossier.source_name == "soctrang").limit(1)).one()
            session.execute(delete(Dossier).where(Dossier.code == gone))
            session.commit()
        reports = {}
        # 2 jobs for 3 sources: the third process starts once one of the first two is done, and like them it
        # inherits the copies whose dossier is gone, found once before forking.
        for jobs in (3, 2, 1):
            command = ["reconcile", "--config", str(cfg), "--json", "--jobs", str(jobs)]
            done = subprocess.run(
                [str(Path(sys.executable).parent / "hopnhat"), "--db", url, *command],
                capture_output=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stderr.decode()[-2000:]
            reports[jobs] = json.loads(done.stdout)
    assert reports[3] == reports[2] == reports[1]
    assert reports[3]["soctrang"]["missing"] == 1 and reports[3]["soctrang"]["missing_ids"] == [gone]
    assert all(reports[3][s]["missing"] == 0 for s in ("cantho", "haugiang"))
    engine.dispose()
