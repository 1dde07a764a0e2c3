"""Regenerate migration 0001 from the models. Only while nothing has been released: after the first release,
add new revisions with ``python tools/new_migration.py MESSAGE`` instead."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from hopnhat.db import make_engine
from hopnhat.migrate import alembic_config

versions = Path(__file__).resolve().parents[1] / "src" / "hopnhat" / "migrations" / "versions"
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{tmp}/empty.db")
    cfg = alembic_config(engine)
    command.revision(
        cfg, message=sys.argv[1] if len(sys.argv) > 1 else "initial schema", autogenerate=True, rev_id="0001"
    )
print("written:", *versions.glob("0001_*.py"))
