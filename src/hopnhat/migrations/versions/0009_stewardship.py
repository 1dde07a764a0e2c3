"""sync: the data stewards' corrections, dismissals, unit choices; the cut-over of a source

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:25:22.250033
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hopnhat.db

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "sync_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", hopnhat.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_correction")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_sync_correction_source_source_id")),
    )
    with op.batch_alter_table("sync_correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_correction_source"), ["source"], unique=False)

    op.create_table(
        "sync_cutover",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("committed_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("committed_by", sa.String(length=64), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sync_cutover")),
    )
    op.create_table(
        "sync_unit_choice",
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("original_unit_code", sa.String(length=8), nullable=True),
        sa.Column("unit_code", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("chosen_by", sa.String(length=64), nullable=False),
        sa.Column("chosen_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_sync_unit_choice")),
    )
    op.create_table(
        "sync_dismissal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quarantine_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("duplicate_of", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", hopnhat.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["quarantine_id"],
            ["sync_quarantine.id"],
            name=op.f("fk_sync_dismissal_quarantine_id_sync_quarantine"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_dismissal")),
    )
    with op.batch_alter_table("sync_dismissal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_dismissal_quarantine_id"), ["quarantine_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sync_dismissal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_dismissal_quarantine_id"))

    op.drop_table("sync_dismissal")
    op.drop_table("sync_unit_choice")
    op.drop_table("sync_cutover")
    with op.batch_alter_table("sync_correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_correction_source"))

    op.drop_table("sync_correction")
