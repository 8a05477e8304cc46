"""users.session_epoch: logout, a password change and disabling end every web session

Revision ID: 0017_session_epoch
Revises: 0016_notices
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_session_epoch"
down_revision = "0016_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
