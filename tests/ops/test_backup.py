"""Backup and restore on both stores: the restored store holds the same dossiers (digest), a verified audit chain
and the same scans; a restore never merges into a store that holds something."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hopnhat.db import make_engine
from hopnhat.ops.backup import dossier_digest
from tests.conftest import BACKENDS, _create_pg_database, _drop_pg_database
from tests.ops.support import fill, run


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_backup_then_restore_into_a_fresh_store_gives_the_same_dossiers_and_chain(
    store_url: str, tmp_path: Path
) -> None:
    files = tmp_path / "scans"
    engine = make_engine(store_url)
    fill(engine, files)
    with engine.connect() as conn:
        count, digest = dossier_digest(conn)
    engine.dispose()
    assert count == 12

    env = {"HOPNHAT_SCAN_DIR": str(files)}
    saved = run(store_url, "db", "backup", str(tmp_path / "backup"), "--json", env=env)
    assert saved.returncode == 0, saved.stderr
    manifest = json.loads(saved.stdout)
    assert manifest["digest"] == digest and manifest["dossiers"] == 12
    assert manifest["audit_entries"] == 12
    assert sorted(manifest["files"]) == ["2025/07/scan-0001.pdf", "giay-to.png"]
    assert "Nguyễn" not in (tmp_path / "backup" / "manifest.json").read_text()  # digests, not data

    fresh = f"sqlite:///{tmp_path / 'restored.db'}" if store_url.startswith("sqlite") else _create_pg_database()
    restored_files = tmp_path / "restored-scans"
    try:
        back = run(
            fresh, "db", "restore", str(tmp_path / "backup"), "--json", env={"HOPNHAT_SCAN_DIR": str(restored_files)}
        )
        assert back.returncode == 0, back.stderr
        report = json.loads(back.stdout)
        assert report["digest"] == digest and report["digest_matches"]
        assert report["audit_ok"] and report["audit_entries"] == 12 and report["files"] == 2
        for name in ("2025/07/scan-0001.pdf", "giay-to.png"):
            assert (restored_files / name).read_bytes() == (files / name).read_bytes()
        verified = run(fresh, "audit", "verify")
        assert verified.returncode == 0 and "audit chain intact: 12 entries" in verified.stdout
        restored = make_engine(fresh)
        with restored.connect() as conn:
            assert dossier_digest(conn) == (12, digest)
        restored.dispose()

        again = run(fresh, "db", "restore", str(tmp_path / "backup"), env={"HOPNHAT_SCAN_DIR": str(tmp_path / "x")})
        assert again.returncode == 1 and "the target store is not empty" in again.stderr
    finally:
        if not fresh.startswith("sqlite"):
            _drop_pg_database(fresh)


def test_a_tampered_backup_is_refused_before_anything_is_restored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    from hopnhat.db import ensure_schema

    ensure_schema(engine)
    fill(engine, dossiers=2)
    engine.dispose()
    assert run(url, "db", "backup", str(tmp_path / "b")).returncode == 0
    with (tmp_path / "b" / "store.sqlite").open("ab") as fh:
        fh.write(b"x")
    target = tmp_path / "target.db"
    refused = run(f"sqlite:///{target}", "db", "restore", str(tmp_path / "b"))
    assert refused.returncode == 1
    assert "not the file the manifest describes" in refused.stderr
    assert not target.exists()
