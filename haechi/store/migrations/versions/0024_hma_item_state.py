"""HMA's item and bank state: banks.matching_enabled_ratio, bank_entries.disable_until_ts and
the item's metadata (encrypted), so an HMA client's enable/disable and metadata are kept, not 501s

Revision ID: 0024_hma_item_state
Revises: 0018_case_keys
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_hma_item_state"
down_revision = "0018_case_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(sa.Column("matching_enabled_ratio", sa.Float(), nullable=False, server_default="1.0"))
    with op.batch_alter_table("bank_entries") as batch:
        batch.add_column(sa.Column("disable_until_ts", sa.BigInteger(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("metadata_ciphertext", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_entries") as batch:
        batch.drop_column("metadata_ciphertext")
        batch.drop_column("disable_until_ts")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("matching_enabled_ratio")
