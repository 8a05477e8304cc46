"""Persistence: SQLAlchemy models, Alembic migrations (applied automatically), encryption."""

from haechi.store.db import Database

__all__ = ["Database"]
