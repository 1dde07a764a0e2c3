"""store: canonical dossier fields for the officer, the portal and notices

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:11:35.744716
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hopnhat.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults fill the rows already in the store; new rows get the model's defaults.
    with op.batch_alter_table("store_dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("applicant_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("applicant_id_type", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("notice_consent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("submitted_at", hopnhat.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refused_at", hopnhat.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("vneid_signin", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("paid_online", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("digitised_documents", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("former_province_code", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("owned_here_at", hopnhat.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("store_dossier", schema=None) as batch_op:
        batch_op.drop_column("owned_here_at")
        batch_op.drop_column("former_province_code")
        batch_op.drop_column("digitised_documents")
        batch_op.drop_column("paid_online")
        batch_op.drop_column("vneid_signin")
        batch_op.drop_column("refused_at")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("notice_consent")
        batch_op.drop_column("applicant_id_type")
        batch_op.drop_column("applicant_email")
