"""custody log (hash-chained) and web captures

Revision ID: 0004_evidence
Revises: 0003_faces
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_evidence"
down_revision = "0003_faces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_ref", sa.String(200), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("artefacts", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
        sa.UniqueConstraint("prev_hash", name="uq_custody_prev"),
    )
    op.create_index("ix_custody_log_case_ref", "custody_log", ["case_ref"])
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_ref", sa.String(200), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("captured_at", sa.String(40), nullable=False),
        sa.Column("folder", sa.String(500), nullable=False),
        sa.Column("artefacts", sa.Text(), nullable=False),
        sa.Column("media", sa.Text(), nullable=False),
        sa.Column("custody_entry_id", sa.Integer(), sa.ForeignKey("custody_log.id"), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_captures_case_ref", "captures", ["case_ref"])


def downgrade() -> None:
    op.drop_table("captures")
    op.drop_table("custody_log")
