"""Sources synced at once, one process each (``sync run --jobs N``), leave exactly the store a run of one source
after the other leaves: their batches meet at the store's write gate, and transferred dossiers (the same code in two
systems) go to the same copy whichever process reaches the gate first."""

from __future__ import annotations

from pathlib import Path

import pytest

from hopnhat.legacy import generate, serve_in_thread
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
