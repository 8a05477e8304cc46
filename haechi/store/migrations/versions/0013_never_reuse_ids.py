"""ids that leave the database are never reused; every bank-entry deletion is logged for the indexes

SQLite hands a deleted row's id to the next insert unless the table is AUTOINCREMENT. Bank entry
ids are the labels of the in-memory PDQ index and HMA's content ids, so a reused id let a deleted
bank's hash match an unrelated new entry at distance 0 (issue #21). Here the tables whose ids
leave the database are rebuilt as AUTOINCREMENT (SQLite only: PostgreSQL sequences never reuse),
with the sequence started above every id ever handed out that is still known (the removal logs),
and a trigger logs every deleted bank entry in ``index_removals`` so that every process drops it
from its index.

Revision ID: 0013_never_reuse_ids
Revises: 0012_bank_subscriptions
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_never_reuse_ids"
down_revision = "0012_bank_subscriptions"
branch_labels = None
depends_on = None

TABLES = ("banks", "bank_entries", "bank_removals", "subjects", "face_embeddings")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION haechi_log_index_removal() RETURNS trigger AS $$
BEGIN
    INSERT INTO index_removals (entry_id, signal_type) VALUES (OLD.id, OLD.signal_type);
    RETURN OLD;
END;
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER trg_index_removal AFTER DELETE ON bank_entries
FOR EACH ROW EXECUTE FUNCTION haechi_log_index_removal()
"""
_SQLITE_TRIGGER = """
CREATE TRIGGER trg_index_removal AFTER DELETE ON bank_entries
BEGIN
    INSERT INTO index_removals (entry_id, signal_type) VALUES (OLD.id, OLD.signal_type);
END
"""


def upgrade() -> None:
    op.create_table(
        "index_removals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sqlite_autoincrement=True,
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # rebuilt with foreign keys off (haechi.store.db.Database.migrate): dropping the old
        # table must not cascade into local_features, video_hashes or face_embeddings
        for table in TABLES:
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
        # ids already handed out and then deleted are known only from the removal logs
        op.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'bank_entries', 0 WHERE NOT EXISTS"
                   " (SELECT 1 FROM sqlite_sequence WHERE name = 'bank_entries')")
        op.execute("UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT max(entry_id) FROM bank_removals), 0),"
                   " coalesce((SELECT max(id) FROM bank_entries), 0)) WHERE name = 'bank_entries'")
        op.execute(_SQLITE_TRIGGER)
    else:
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)


def downgrade() -> None:
    bind = op.get_bind()
    on = "" if bind.dialect.name == "sqlite" else " ON bank_entries"
    op.execute(f"DROP TRIGGER IF EXISTS trg_index_removal{on}")
    if bind.dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS haechi_log_index_removal()")
    op.drop_table("index_removals")
