"""Free text about a victim encrypted at rest in the live database (issue #17 high 4).

:class:`EncryptedText` is a column type: Python code reads and writes ``str`` as before, the
database holds a Fernet token (AES-128-CBC + HMAC-SHA256, base64 text) made with the home's key.
The key is found through the engine's dialect (``dialect.haechi_cipher``, set by
:class:`haechi.store.db.Database` from the provider ``Runtime`` gives it), so every path — ORM
attributes, Core ``select``/``insert``/``update``, the backup's table dumps, Alembic on a
connection of that engine — encrypts and decrypts the same way without being handed the key.

Fernet tokens are randomised, so an encrypted column cannot be compared in SQL: comparing one
raises ``TypeError`` (only ``IS [NOT] NULL`` is allowed). A column looked up by equality has a
*blind index* next to it (``*_index``: HMAC-SHA256 of the text under a key derived from the home's
key, :func:`blind_index`); lookups go through :func:`blind_indexes`, which gives the index under
every key the home holds, so a lookup still finds a row while a rotation is half done.

:data:`ENCRYPTED_COLUMNS` lists every encrypted column (and its blind index, if any): key
rotation (``haechi.services.keys``) and migration ``0025`` walk it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from typing import Any

from sqlalchemy import Text
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ClauseElement
from sqlalchemy.types import TypeDecorator

from haechi.errors import ConfigError
from haechi.store.crypto import Cipher

#: ``(table, column, blind index column or None)`` for every :class:`EncryptedText` column
ENCRYPTED_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("cases", "victim_ref", None),
    ("banks", "description", None),
    ("bank_entries", "label", "label_index"),
    ("subjects", "subject_ref", "subject_ref_index"),
    ("subjects", "consent_ref", None),
    ("watches", "source", None),
    ("case_items", "media", None),
    ("captures", "media", None),
    ("jobs", "params", None),
    ("job_items", "result", None),
)

_ALLOWED = {operators.is_, operators.is_not}


def cipher_of(dialect: Any) -> Cipher:
    """The home's cipher for a connection of this dialect. ConfigError when the database was
    opened without a key (``Database(url)`` with no ``cipher``)."""
    provider = getattr(dialect, "haechi_cipher", None)
    cipher = provider() if provider is not None else None
    if cipher is None:
        raise ConfigError("encrypted columns need the home's key: this database was opened without one")
    out: Cipher = cipher
    return out


@functools.lru_cache(maxsize=8)
def _derived(keys: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(base64.urlsafe_b64decode(k), b"haechi blind index v1", hashlib.sha256).digest()
                 for k in keys)


def _index_keys(cipher: Cipher) -> tuple[bytes, ...]:
    """One blind-index key per Fernet key (HMAC-SHA256 of a fixed label under the key's bytes)."""
    return _derived(tuple(cipher.all_keys()))


def blind_index(cipher: Cipher, value: str | None) -> str | None:
    """HMAC-SHA256 (hex, 64 chars) of ``value`` under a key derived from the primary key; None
    for None. Equal texts give equal indexes; without the key an index says nothing of the text."""
    if value is None:
        return None
    return hmac.new(_index_keys(cipher)[0], value.encode(), hashlib.sha256).hexdigest()


def blind_indexes(cipher: Cipher, value: str) -> list[str]:
    """:func:`blind_index` of ``value`` under every key the cipher holds (primary first): what a
    lookup compares the index column with, so rows not yet rotated are found too."""
    return [hmac.new(k, value.encode(), hashlib.sha256).hexdigest() for k in _index_keys(cipher)]


def _is_value(other: Any) -> bool:
    return not isinstance(other, ClauseElement) or isinstance(other, BindParameter)


class EncryptedText(TypeDecorator[str]):
    """``str`` in Python, a Fernet token (text) in the database. ``""`` and None are stored as
    they are (a column's empty default carries no text). Reading a token the key cannot open
    raises ConfigError naming the key's fingerprint."""

    impl = Text
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):  # noqa: N801 - SQLAlchemy's name
        """Comparing the column with a value in SQL raises TypeError (a randomised token never
        equals anything); column-to-column expressions (SQLAlchemy's own) and ``IS NULL`` pass."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op not in _ALLOWED and any(_is_value(o) for o in other):
                raise TypeError(f"{self.expr} is encrypted at rest: compare its blind index instead")
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            if op not in _ALLOWED and _is_value(other):
                raise TypeError(f"{self.expr} is encrypted at rest: compare its blind index instead")
            return super().reverse_operate(op, other, **kwargs)

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        return cipher_of(dialect).encrypt(str(value).encode()).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        cipher = cipher_of(dialect)
        try:
            return cipher.decrypt(value.encode("ascii")).decode()
        except (ConfigError, UnicodeError):
            raise ConfigError(f"encrypted text in the database cannot be decrypted with key "
                              f"{cipher.fingerprint()} (wrong HAECHI_SECRET_KEY?)") from None
