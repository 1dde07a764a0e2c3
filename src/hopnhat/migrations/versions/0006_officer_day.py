"""settlement: the officer's day (step actions and public notes, catalogue fields, scans, centers' contacts)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:18:17.298497
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hopnhat.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("document_code", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("digitised", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", hopnhat.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_scan")),
    )
    with op.batch_alter_table("settlement_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_scan_dossier_code"), ["dossier_code"], unique=False)

    with op.batch_alter_table("registry_agency", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))

    with op.batch_alter_table("settlement_procedure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_documents", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("fee_items", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("receiving_centers", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("handling_units", sa.JSON(), nullable=True))

    with op.batch_alter_table("store_dossier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_store_dossier_holder_username"), ["holder_username"], unique=False)

    with op.batch_alter_table("store_processing_step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("public", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("store_dossier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_store_dossier_holder_username"))

    with op.batch_alter_table("store_processing_step", schema=None) as batch_op:
        batch_op.drop_column("details")
        batch_op.drop_column("public")
        batch_op.drop_column("action")

    with op.batch_alter_table("settlement_procedure", schema=None) as batch_op:
        batch_op.drop_column("handling_units")
        batch_op.drop_column("receiving_centers")
        batch_op.drop_column("fee_items")
        batch_op.drop_column("required_documents")

    with op.batch_alter_table("registry_agency", schema=None) as batch_op:
        batch_op.drop_column("phone")
        batch_op.drop_column("address")

    with op.batch_alter_table("settlement_scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_scan_dossier_code"))

    op.drop_table("settlement_scan")
