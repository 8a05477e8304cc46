"""Cryptographic hashes: exact copies, and the identifiers that courts and platforms quote."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from haechi.errors import BadSignal
from haechi.signals.base import SignalType


class _HexDigest(SignalType):
    exact: ClassVar[bool] = True
    hex_length: ClassVar[int]

    @classmethod
    def normalize(cls, value: str) -> str:
        text = value.strip().lower()
        if len(text) != cls.hex_length or not re.fullmatch(r"[0-9a-f]+", text):
            raise BadSignal(value, f"not a {cls.name} hash ({cls.hex_length} hex digits expected)")
        return text

    @classmethod
    def of_bytes(cls, data: bytes) -> str:
        return hashlib.new(cls.name, data).hexdigest()


class SHA256Signal(_HexDigest):
    name: ClassVar[str] = "sha256"
    hex_length: ClassVar[int] = 64


class MD5Signal(_HexDigest):
    name: ClassVar[str] = "md5"
    hex_length: ClassVar[int] = 32
