"""sync: source identity, run owner and failure reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:15:40.583188
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hopnhat.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_source_identity",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=1000), nullable=False),
        sa.Column("sample_ids", sa.JSON(), nullable=False),
        sa.Column("bound_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sync_source_identity")),
    )
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("owner")
    op.drop_table("sync_source_identity")
