"""an enrolled person's name, encrypted (optional; the subject id stays a pseudonym)

Revision ID: 0009_subject_name
Revises: 0008_watches
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_subject_name"
down_revision = "0008_watches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("name_ciphertext", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("name_ciphertext")
