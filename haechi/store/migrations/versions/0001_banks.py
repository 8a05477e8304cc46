"""banks, bank entries and encrypted local features

Revision ID: 0001_banks
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_banks"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "bank_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("signal", sa.String(128), nullable=False),
        sa.Column("label", sa.String(500), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("content_ref", sa.String(64), nullable=True),
        sa.Column("source", sa.String(32), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("bank_id", "signal_type", "signal", name="uq_entry_signal"),
    )
    op.create_index("ix_bank_entries_bank_id", "bank_entries", ["bank_id"])
    op.create_index("ix_bank_entries_content_ref", "bank_entries", ["content_ref"])
    op.create_index("ix_entries_type_signal", "bank_entries", ["signal_type", "signal"])
    op.create_table(
        "local_features",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("bank_entries.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_local_features_bank_id", "local_features", ["bank_id"])


def downgrade() -> None:
    op.drop_table("local_features")
    op.drop_table("bank_entries")
    op.drop_table("banks")
