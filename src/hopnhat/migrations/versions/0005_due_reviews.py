"""settlement: due dates a calendar edit would move, waiting for a decision

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:16:45.701415
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hopnhat.db

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_due_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("budget_hours", sa.Float(), nullable=False),
        sa.Column("given_due_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("proposed_due_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", hopnhat.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["store_dossier.id"],
            name=op.f("fk_settlement_due_review_dossier_id_store_dossier"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_due_review")),
    )
    with op.batch_alter_table("settlement_due_review", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_due_review_state_dossier", ["state", "dossier_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("settlement_due_review", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_due_review_state_dossier")

    op.drop_table("settlement_due_review")
