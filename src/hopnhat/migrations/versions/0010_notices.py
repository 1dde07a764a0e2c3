"""notices: a destination for every outbox event (portal, email, sms, zalo) and the notice templates

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 18:25:24.485997
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hopnhat.db

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_template",
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event", "channel", name=op.f("pk_notice_template")),
    )
    # Every event already in the outbox went to the portal: the server default says so without rewriting rows.
    with op.batch_alter_table("store_outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destination", sa.String(length=16), server_default="portal", nullable=False))
        batch_op.create_index(
            "ix_store_outbox_event_destination", ["destination", "state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("store_outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_store_outbox_event_destination")
        batch_op.drop_column("destination")
    op.drop_table("notice_template")
