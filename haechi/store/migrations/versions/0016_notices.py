"""notices that reach someone (issue #18): drafter, platform, channel, receipt-based clocks, DSA
receipt/decision; a minor flag on cases

Revision ID: 0016_notices
Revises: 0014_submission_signals
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_notices"
down_revision = "0014_submission_signals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("drafted_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("platform", sa.String(200), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(16), nullable=True))
        batch.add_column(sa.Column("channel_process", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submission_ref", sa.String(300), nullable=True))
        batch.add_column(sa.Column("receipt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision", sa.String(200), nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("minor", sa.Boolean(), nullable=False, server_default=sa.false()))
    # notices sent by e-mail before: the SMTP server accepted them, so that is when they arrived;
    # exported ones never had a confirmed submission: they become "exported" and start no clock
    op.execute(f"UPDATE notices SET received_at = sent_at WHERE status = 'sent' AND {_SMTP}")  # noqa: S608
    op.execute(f"UPDATE notices SET status = 'exported' WHERE status = 'sent' AND NOT {_SMTP}")  # noqa: S608


#: a notice whose custody "notice_send" entry names an SMTP channel (canonical JSON, sorted keys)
_SMTP = ("EXISTS (SELECT 1 FROM custody_log c WHERE c.action = 'notice_send' "
         "AND c.details LIKE '%\"channel\":\"smtp:%' "
         "AND c.details LIKE '%\"notice\":' || CAST(notices.id AS VARCHAR(20)) || '}')")


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("minor")
    with op.batch_alter_table("notices") as batch:
        for name in ("decision", "decision_at", "receipt_at", "submission_ref", "received_at", "channel_process",
                     "channel", "platform", "drafted_by"):
            batch.drop_column(name)
