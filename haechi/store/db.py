"""Engine, sessions and automatic migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from haechi.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cur = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # deleted content is overwritten, not left in free pages: erasing a case's key (crypto-
    # shredding, haechi.store.casekeys) must leave nothing of it in the file
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


class Database:
    """One database: creates the engine, migrates to head on open, hands out sessions."""

    def __init__(self, url: str, *, migrate: bool = True, connect_args: dict | None = None,
                 cipher: Callable[[], Any] | None = None) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # noqa: BLE001 - sqlalchemy raises ArgumentError and others
            raise ConfigError(f"bad database URL: {exc}") from None
        self.url = url
        self.dialect = parsed.get_backend_name()
        sqlite_file = Path(parsed.database) if (self.dialect == "sqlite" and parsed.database
                                                and parsed.database != ":memory:") else None
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            if not sqlite_file.exists():  # created owner-only, wherever it is (inside or outside the home)
                os.close(os.open(sqlite_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self.engine: Engine = create_engine(url, future=True, connect_args=connect_args or {},
                                            pool_pre_ping=self.dialect != "sqlite")
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: returns the home's key (given by ``Runtime``); sessions carry it as ``info["cipher"]``
        #: for sealing custody free text (``haechi.store.casekeys``), and the engine's dialect as
        #: ``haechi_cipher`` for the encrypted columns (``haechi.store.encrypted``), migrations too
        self.cipher: Callable[[], Any] | None = cipher
        self.engine.dialect.haechi_cipher = self._dialect_cipher  # type: ignore[attr-defined]
        if migrate:
            self.migrate()
        if sqlite_file is not None:  # and its journal files, which SQLite creates with the umask
            for extra in (sqlite_file, Path(f"{sqlite_file}-wal"), Path(f"{sqlite_file}-shm")):
                if extra.exists() and extra.stat().st_mode & 0o077:
                    extra.chmod(0o600)

    def _dialect_cipher(self) -> Any:
        return self.cipher() if self.cipher is not None else None

    def migrate(self, revision: str = "head") -> None:
        """Upgrade to ``revision``. On SQLite, foreign keys are off while migrating (they can only
        be switched outside a transaction): a migration that rebuilds a table drops the old one,
        which would otherwise cascade into its children. They are checked before commit."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()  # ends SQLAlchemy's autobegun transaction; the pragma is applied
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    if self.dialect == "sqlite":
                        bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if bad:
                            raise ConfigError(f"migration left {len(bad)} broken foreign keys: {bad[:3]}")
            finally:
                if self.dialect == "sqlite":
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()

    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (a live query: it also proves the connection)."""
        with self.engine.connect() as conn:
            return conn.execute(text("select version_num from alembic_version")).scalar()

    def downgrade(self, revision: str = "base") -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions(info={"cipher": self.cipher}) as session, session.begin():
            yield session

    def flush_deleted(self) -> None:
        """Make deletions final on disk: on SQLite, checkpoint the write-ahead log into the
        (``secure_delete``) database and truncate it, so no old page version is left there."""
        if self.dialect == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()
