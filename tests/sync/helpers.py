"""Plain factories shared by the sync tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.db import ensure_schema, make_engine
from hopnhat.registry.loader import load_bundled
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.models import QuarantinedRecord, SourceCopy


def store(url: str) -> Engine:
    """A migrated store with the registry loaded (the sync remaps through it)."""
    engine = make_engine(url)
    ensure_schema(engine)
    with Session(engine) as session:
        load_bundled(session)
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


def identity_holds(counts: dict[str, Any]) -> bool:
    parts = ("inserted", "updated", "unchanged", "quarantined", "duplicates")
    return bool(counts["extracted"] == sum(counts[k] for k in parts))
