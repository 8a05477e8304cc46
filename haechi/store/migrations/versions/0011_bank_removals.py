"""removed bank entries (ids only), for platforms that synchronise a bank

Revision ID: 0011_bank_removals
Revises: 0010_crawls
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_bank_removals"
down_revision = "0010_crawls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_removals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bank_removals_bank_id", "bank_removals", ["bank_id"])


def downgrade() -> None:
    op.drop_table("bank_removals")
