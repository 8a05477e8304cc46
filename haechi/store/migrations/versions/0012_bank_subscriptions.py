"""banks pulled from another Haechi's sync feed, with the cursor of the last page applied

Revision ID: 0012_bank_subscriptions
Revises: 0011_bank_removals
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_bank_subscriptions"
down_revision = "0011_bank_removals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("remote_bank", sa.String(200), nullable=False),
        sa.Column("cursor", sa.String(64), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("bank_subscriptions")
