"""crawl state in the database (shared by every worker) instead of a file in one worker's home

Revision ID: 0010_crawls
Revises: 0009_subject_name
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_crawls"
down_revision = "0009_subject_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crawls",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crawls")
