"""case_keys: a data key per case for the custody log's free text (crypto-shredding, #17 low 13)

Revision ID: 0018_case_keys
Revises: 0017_session_epoch
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_case_keys"
down_revision = "0017_session_epoch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_keys",
        sa.Column("case_ref", sa.String(200), primary_key=True),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("case_keys")
