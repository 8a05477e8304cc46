"""Free text about a victim encrypted at rest in the live database (issue #17 high 4, red-team)

Every column in ``haechi.store.encrypted.ENCRYPTED_COLUMNS`` (a case's victim reference, a
bank's description, entry labels, a subject's reference and consent reference, watch sources,
the media JSON of case items and captures — it carries match labels —, job parameters and
results) becomes TEXT holding a Fernet token under the home's key; existing rows are encrypted
here. ``bank_entries.label_index`` and ``subjects.subject_ref_index`` are blind indexes (HMAC)
for the lookups by equality; ``subjects.subject_ref`` loses its UNIQUE to its index.

The key comes from the engine's dialect (``Database(cipher=...)``, given by ``Runtime``); a
database with rows to encrypt and no key refuses (ConfigError) and stays at 0024.

On SQLite the three tables whose types change are rebuilt: the AUTOINCREMENT counters are kept
(a reused id once matched a deleted hash, issue #21) and the deletion trigger on
``bank_entries`` is created again.

Revision ID: 0025_encrypted_text
Revises: 0024_hma_item_state
Create Date: 2026-12-01
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from haechi.store.encrypted import ENCRYPTED_COLUMNS, blind_index, cipher_of

revision = "0025_encrypted_text"
down_revision = "0024_hma_item_state"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER trg_index_removal AFTER DELETE ON bank_entries
BEGIN
    INSERT INTO index_removals (entry_id, signal_type) VALUES (OLD.id, OLD.signal_type);
END
"""


def _subjects_0024(unique_ref: bool) -> sa.Table:
    """``subjects`` as migrations 0003-0024 left it (for SQLite's rebuild, whose reflection
    cannot name the UNIQUE on ``subject_ref``)."""
    return sa.Table(
        "subjects", sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject_ref", sa.String(200), nullable=False, unique=unique_ref),
        sa.Column("consent_ref", sa.String(500), nullable=True),
        sa.Column("enrolled_by", sa.String(200), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name_ciphertext", sa.LargeBinary(), nullable=True),
        sqlite_autoincrement=True,
    )


def _sequences(bind: sa.Connection) -> dict[str, int]:
    return dict(bind.execute(sa.text("SELECT name, seq FROM sqlite_sequence")).all())


def _restore_sequences(bind: sa.Connection, before: dict[str, int]) -> None:
    for name in ("bank_entries", "subjects"):
        if name in before:
            bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) SELECT :n, 0 WHERE NOT EXISTS"
                                 " (SELECT 1 FROM sqlite_sequence WHERE name = :n)"), {"n": name})
            bind.execute(sa.text("UPDATE sqlite_sequence SET seq = max(seq, :s) WHERE name = :n"),
                         {"n": name, "s": before[name]})


def _rewrite(bind: sa.Connection, encrypt: bool) -> None:
    """Encrypt (or, going down, decrypt) every value of every encrypted column in place, and
    fill the blind indexes."""
    for table, column, index in ENCRYPTED_COLUMNS:
        cols = [sa.column("id"), sa.column(column, sa.Text())]
        if index and encrypt:
            cols.append(sa.column(index, sa.String()))
        t = sa.table(table, *cols)
        rows = bind.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None), t.c[column] != "")).all()
        if not rows:
            continue
        cipher = cipher_of(bind.dialect)
        values: dict[str, Any] = {column: sa.bindparam("_v")}
        if index and encrypt:
            values[index] = sa.bindparam("_i")
        params = []
        for row_id, value in rows:
            if encrypt:
                params.append({"_id": row_id, "_v": cipher.encrypt(value.encode()).decode("ascii"),
                               "_i": blind_index(cipher, value)})
            else:
                params.append({"_id": row_id, "_v": cipher.decrypt(value.encode("ascii")).decode()})
        bind.execute(sa.update(t).where(t.c.id == sa.bindparam("_id")).values(values), params)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    before = _sequences(bind) if sqlite else {}
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("victim_ref", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=True)
    with op.batch_alter_table("bank_entries", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("label", type_=sa.Text(), existing_type=sa.String(500), existing_nullable=True)
        batch.add_column(sa.Column("label_index", sa.String(64), nullable=True))
        batch.create_index("ix_bank_entries_label_index", ["label_index"])
    with op.batch_alter_table("subjects", copy_from=_subjects_0024(unique_ref=False) if sqlite else None,
                              recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch:
        if not sqlite:
            batch.drop_constraint("subjects_subject_ref_key", type_="unique")
        batch.alter_column("subject_ref", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=False)
        batch.alter_column("consent_ref", type_=sa.Text(), existing_type=sa.String(500), existing_nullable=True)
        batch.add_column(sa.Column("subject_ref_index", sa.String(64), nullable=True))
    _rewrite(bind, encrypt=True)
    with op.batch_alter_table("subjects", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("subject_ref_index", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("subjects_subject_ref_index_key", ["subject_ref_index"])
    if sqlite:
        _restore_sequences(bind, before)
        op.execute("DROP TRIGGER IF EXISTS trg_index_removal")
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    before = _sequences(bind) if sqlite else {}
    _rewrite(bind, encrypt=False)
    with op.batch_alter_table("subjects", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("subjects_subject_ref_index_key", type_="unique")
        batch.drop_column("subject_ref_index")
        batch.alter_column("subject_ref", type_=sa.String(200), existing_type=sa.Text(), existing_nullable=False)
        batch.alter_column("consent_ref", type_=sa.String(500), existing_type=sa.Text(), existing_nullable=True)
        batch.create_unique_constraint("subjects_subject_ref_key", ["subject_ref"])
    with op.batch_alter_table("bank_entries", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_index("ix_bank_entries_label_index")
        batch.drop_column("label_index")
        batch.alter_column("label", type_=sa.String(500), existing_type=sa.Text(), existing_nullable=True)
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("victim_ref", type_=sa.String(200), existing_type=sa.Text(), existing_nullable=True)
    if sqlite:
        _restore_sequences(bind, before)
        op.execute("DROP TRIGGER IF EXISTS trg_index_removal")
        op.execute(_SQLITE_TRIGGER)
