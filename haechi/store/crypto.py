"""Encryption at rest for victim-derived data (ORB features of banked media, face embeddings).

The key comes from ``$HAECHI_SECRET_KEY`` (a Fernet key) when set — production keeps it in a
secret store — else from ``<home>/secret.key``, created with mode 0600 on first use.

Rotation: either place may hold several comma-separated keys; the first encrypts, all decrypt
(``MultiFernet``). ``haechi keys rotate`` re-encrypts every stored token with the first key;
with a key file it also generates the new key and, once the database commit succeeded, drops
the old one. With ``$HAECHI_SECRET_KEY``: prepend a new key (``new,old``), run ``haechi keys
rotate``, then remove the old key from the secret store.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from haechi.errors import ConfigError


def load_or_create_key(key_file: Path, env_key: str | None = None) -> bytes:
    if env_key:
        return env_key.encode()
    if key_file.exists():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def write_key_file(key_file: Path, keys: bytes) -> None:
    """Replace the key file atomically, mode 0600."""
    tmp = key_file.with_name(key_file.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(keys)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, key_file)


class Cipher:
    def __init__(self, key: bytes) -> None:
        try:
            keys = [k.strip() for k in key.split(b",") if k.strip()]
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"invalid encryption key: {exc}") from None
        self.key_count = len(keys)
        self._primary = keys[0]
        self._keys = keys

    def all_keys(self) -> list[bytes]:
        """Every key (primary first), for deriving per-key secrets (blind indexes)."""
        return list(self._keys)

    def fingerprint(self) -> str:
        """A short public name of the primary key (SHA-256 of it, 16 hex): says *which* key data
        needs, never the key itself."""
        import hashlib

        return hashlib.sha256(self._primary).hexdigest()[:16]

    def key_material(self) -> bytes:
        """The primary key, for deriving other secrets (e.g. the web session signing key)."""
        return self._primary

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` with the first key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise ConfigError("stored data cannot be decrypted with these keys") from None

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ConfigError("stored data cannot be decrypted with this key (wrong HAECHI_SECRET_KEY?)") from None
