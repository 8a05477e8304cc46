"""which bank entries each victim self-service submission holds (shared hashes, safe withdrawal)

Revision ID: 0014_submission_signals
Revises: 0013_never_reuse_ids
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_submission_signals"
down_revision = "0013_never_reuse_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submission_signals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("bank_entries.id", ondelete="CASCADE"), nullable=False),
        sa.UniqueConstraint("case_id", "entry_id", name="uq_submission_entry"),
    )
    op.create_index("ix_submission_signals_case_id", "submission_signals", ["case_id"])
    op.create_index("ix_submission_signals_entry_id", "submission_signals", ["entry_id"])
    # submissions made before: each self-service case holds the entries labelled with its reference
    op.execute("INSERT INTO submission_signals (case_id, entry_id) SELECT c.id, e.id FROM cases c "
               "JOIN bank_entries e ON e.label = c.victim_ref WHERE c.victim_ref LIKE 'self:%'")


def downgrade() -> None:
    op.drop_table("submission_signals")
