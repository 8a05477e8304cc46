"""video hashes: packed vPDQ frames of banked videos

Revision ID: 0002_video_hashes
Revises: 0001_banks
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_video_hashes"
down_revision = "0001_banks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_hashes",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("bank_entries.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("bands", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_video_hashes_bank_id", "video_hashes", ["bank_id"])


def downgrade() -> None:
    op.drop_table("video_hashes")
