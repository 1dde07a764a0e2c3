"""Write the next Alembic revision by comparing the models with a store migrated to the current head.

    python tools/new_migration.py "add the thing"

Read and edit the generated file before committing it: autogenerate misses renames and some type changes, and
SQLite needs batch operations (``op.batch_alter_table``) to alter a column.
"""

from __future__ import annotations

import sys
import tempfile

from alembic import command

from hopnhat.db import ensure_schema, make_engine
from hopnhat.migrate import alembic_config

if len(sys.argv) != 2:
    raise SystemExit('usage: python tools/new_migration.py "what changes"')
with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{tmp}/head.db")
    ensure_schema(engine)  # the store at the current head
    command.revision(alembic_config(engine), message=sys.argv[1], autogenerate=True)
