"""Encryption at rest for victim-derived data (local features now; face embeddings later).

The key comes from ``$HAECHI_SECRET_KEY`` (a Fernet key) when set — production keeps it in a
secret store — else from ``<home>/secret.key``, created with mode 0600 on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

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


class Cipher:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"invalid encryption key: {exc}") from None

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ConfigError("stored data cannot be decrypted with this key (wrong HAECHI_SECRET_KEY?)") from None
