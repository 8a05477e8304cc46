"""subjects who consented to face search, and their encrypted face embeddings

Revision ID: 0003_faces
Revises: 0002_video_hashes
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_faces"
down_revision = "0002_video_hashes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject_ref", sa.String(200), nullable=False, unique=True),
        sa.Column("consent_ref", sa.String(500), nullable=True),
        sa.Column("enrolled_by", sa.String(200), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "face_embeddings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject_id", sa.Integer(), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_face_embeddings_subject_id", "face_embeddings", ["subject_id"])


def downgrade() -> None:
    op.drop_table("face_embeddings")
    op.drop_table("subjects")
