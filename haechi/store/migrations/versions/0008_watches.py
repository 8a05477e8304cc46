"""watches for re-uploads

Revision ID: 0008_watches
Revises: 0007_cases
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_watches"
down_revision = "0007_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("last_run", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_watches_case_id", "watches", ["case_id"])


def downgrade() -> None:
    op.drop_table("watches")
