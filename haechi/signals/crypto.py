"""Cryptographic hashes: exact copies, and the identifiers that courts and platforms quote."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from haechi.errors import BadSignal
from haechi.signals.base import PHOTO, VIDEO, SignalType


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
    """SHA-256 of the file bytes: the identifier courts quote. tx: ``video_sha256`` for videos."""

    name: ClassVar[str] = "sha256"
    hex_length: ClassVar[int] = 64
    content_types: ClassVar[tuple[str, ...]] = (PHOTO, VIDEO)
    field_names: ClassVar[dict[str, str]] = {VIDEO: "video_sha256"}

    @classmethod
    def examples(cls) -> list[str]:
        # tx's VideoSHA256Signal examples: SHA-256 of b"", and a made-up digest
        return ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "ba7816bf8f01cfe414134e77ca982da31a7b0e4a9e5a7a3a2a2a2a2a2a2a2a2a"]


class MD5Signal(_HexDigest):
    """MD5 of the file bytes: the type StopNCII shares with platforms for photos too. tx has no
    photo MD5; a video's is ``video_md5``."""

    name: ClassVar[str] = "md5"
    hex_length: ClassVar[int] = 32
    content_types: ClassVar[tuple[str, ...]] = (PHOTO, VIDEO)
    field_names: ClassVar[dict[str, str]] = {VIDEO: "video_md5"}

    @classmethod
    def examples(cls) -> list[str]:
        # tx's VideoMD5Signal examples (the second is MD5 of b"")
        return ["cab08b36195edb1a1231d2d09fa450e0", "d41d8cd98f00b204e9800998ecf8427e"]
