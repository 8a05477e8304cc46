"""Evidence encrypted at rest: a :class:`BlobStore` wrapper that seals every artefact it stores.

Why: evidence WARCs, screenshots and media copies are intimate images of victims. On disk (or in
a bucket, or in a backup made without the key) they must be unreadable (issue #17). The custody
log keeps each artefact's *plaintext* SHA-256, so verification still proves integrity: a read
decrypts, and AES-GCM's tags refuse any changed byte before the hash is even compared.

Envelope encryption: each object gets its own random 256-bit data key; the object is encrypted
with AES-256-GCM in 1 MiB chunks (the STREAM construction of Hoang, Reyhanitabar, Rogaway and
Vizár 2015: nonce = 7-byte random prefix, 4-byte chunk counter, 1-byte last-chunk flag, so chunks
cannot be reordered, dropped or the object truncated), and the data key is stored beside it
wrapped with the home's key (:class:`~haechi.store.crypto.Cipher`, Fernet/MultiFernet — so key
rotation re-wraps data keys only). Chunks keep memory flat for large WARCs and videos.

Layout: ``MAGIC`` · 2-byte length · wrapped data key · 7-byte nonce prefix · chunks (each
ciphertext + 16-byte tag). Objects without ``MAGIC`` (stored before this existed) are read as
they are; :func:`seal_existing` converts them.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from haechi.errors import ConfigError, InputError
from haechi.store.blobs import BlobStore
from haechi.store.crypto import Cipher

MAGIC = b"HAECHI-SEALED-1\n"
CHUNK = 1 << 20  # plaintext bytes per chunk
TAG = 16
PREFIX = 7


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


def seal_stream(src: IO[bytes], dst: IO[bytes], cipher: Cipher) -> None:
    """Encrypt ``src`` into ``dst`` (see the module docstring for the layout)."""
    key = AESGCM.generate_key(bit_length=256)
    wrapped = cipher.encrypt(key)
    prefix = os.urandom(PREFIX)
    dst.write(MAGIC + struct.pack(">H", len(wrapped)) + wrapped + prefix)
    aead = AESGCM(key)
    counter = 0
    chunk = src.read(CHUNK)
    while True:
        following = src.read(CHUNK)
        last = not following
        dst.write(aead.encrypt(_nonce(prefix, counter, last), chunk, MAGIC))
        if last:
            return
        chunk, counter = following, counter + 1


class _Unsealer(io.RawIOBase):
    """Reads the plaintext of a sealed object chunk by chunk; a changed, dropped, reordered or
    truncated chunk raises InputError naming the object."""

    def __init__(self, raw: IO[bytes], name: str, cipher: Cipher) -> None:
        super().__init__()
        self._raw, self._name = raw, name
        (n,) = struct.unpack(">H", self._need(2))
        try:
            key = cipher.decrypt(self._need(n))
        except Exception:  # noqa: BLE001 - InvalidToken, or a ConfigError from the cipher
            raise InputError(name, "stored evidence cannot be decrypted with this key (restore the key "
                                   "it was sealed with: haechi doctor names it)") from None
        self._aead = AESGCM(key)
        self._prefix = self._need(PREFIX)
        self._pending = self._raw.read(CHUNK + TAG)
        self._counter = 0
        self._buf = b""
        self._pos = 0
        self._done = False

    def _need(self, n: int) -> bytes:
        data = self._raw.read(n)
        if len(data) != n:
            raise InputError(self._name, "sealed evidence is truncated")
        return data

    def _next_chunk(self) -> None:
        # one block of look-ahead: a chunk is the last one when nothing follows it
        block, self._pending = self._pending, self._raw.read(CHUNK + TAG)
        last = not self._pending
        try:
            self._buf = self._aead.decrypt(_nonce(self._prefix, self._counter, last), block, MAGIC)
        except InvalidTag:
            raise InputError(self._name, "sealed evidence was modified or truncated (authentication failed)") \
                from None
        self._counter += 1
        self._done = last

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf) and not self._done:
            self._next_chunk()
            self._pos = 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = memoryview(self._buf)[self._pos:self._pos + n]  # no copy of the rest of the chunk
        self._pos += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_sealed(raw: IO[bytes], name: str, cipher: Cipher) -> IO[bytes]:
    """A readable plaintext stream of a stored object, sealed or (legacy) plain."""
    head = raw.read(len(MAGIC))
    if not is_sealed(head):
        return io.BufferedReader(_Prefixed(head, raw))  # object streams (S3) cannot seek back
    return io.BufferedReader(_Unsealer(raw, name, cipher), buffer_size=CHUNK)


class _Prefixed(io.RawIOBase):
    """``head`` (already read) followed by the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        super().__init__()
        self._head, self._raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class SealedBlobStore:
    """Wraps a :class:`BlobStore`: ``put_file`` seals, ``open`` unseals; ``inner`` holds the
    ciphertext (backups copy it as it is, so they are unreadable without the key)."""

    scheme: ClassVar[str] = "sealed"

    def __init__(self, inner: BlobStore, cipher: Cipher) -> None:
        self.inner, self.cipher = inner, cipher
        self.url = inner.url

    def put_file(self, key: str, path: Path) -> None:
        """Seal the file at ``path`` into ``key``. When ``path`` is the store's own file (a local
        store used as the capture staging area), the plaintext is replaced by the ciphertext."""
        with Path(path).open("rb") as fh:
            if is_sealed(fh.read(len(MAGIC))):
                self.inner.put_file(key, path)
                return
            fh.seek(0)
            fd, tmp = tempfile.mkstemp(prefix=".seal-", dir=Path(path).parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    seal_stream(fh, out, self.cipher)
                local = self.inner.local_path(key)
                if local is not None and local.exists() and local.resolve() == Path(path).resolve():
                    mode = local.stat().st_mode & 0o777
                    os.chmod(tmp, 0o600)
                    os.replace(tmp, local)  # atomic: the plaintext is gone, the artefact sealed
                    os.chmod(local, mode)
                else:
                    self.inner.put_file(key, Path(tmp))
            finally:
                Path(tmp).unlink(missing_ok=True)

    def open(self, key: str) -> IO[bytes]:
        return open_sealed(self.inner.open(key), key, self.cipher)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return self.inner.keys(prefix)

    def local_path(self, key: str) -> Path | None:
        """Where the (sealed) object lies, for display; read it with :meth:`open`."""
        return self.inner.local_path(key)


def seal_existing(store: SealedBlobStore) -> int:
    """Seal every object stored in the clear before encryption at rest existed; returns how many."""
    count = 0
    for key in list(store.keys()):
        with store.inner.open(key) as fh:
            if is_sealed(fh.read(len(MAGIC))):
                continue
        local = store.inner.local_path(key)
        if local is None:
            raise ConfigError("sealing existing objects is supported for the local store; re-upload others")
        store.put_file(key, local)
        count += 1
    return count


def raw_store(store: BlobStore) -> BlobStore:
    """The store that holds the bytes as they lie (ciphertext for a sealed store)."""
    return store.inner if isinstance(store, SealedBlobStore) else store


def rewrap_keys(store: BlobStore, cipher: Cipher) -> int:
    """Re-wrap every sealed object's data key with ``cipher``'s primary key (key rotation: the
    contents are not re-encrypted). ``cipher`` must still read the old key. Returns how many."""
    inner = raw_store(store)
    count = 0
    for key in list(inner.keys()):
        with inner.open(key) as fh:
            if not is_sealed(fh.read(len(MAGIC))):
                continue
            (n,) = struct.unpack(">H", fh.read(2))
            wrapped = cipher.rotate(fh.read(n))
            fd, tmp = tempfile.mkstemp(prefix=".rewrap-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(MAGIC + struct.pack(">H", len(wrapped)) + wrapped)
                    for block in iter(lambda: fh.read(CHUNK), b""):
                        out.write(block)
                local = inner.local_path(key)
                mode = local.stat().st_mode & 0o777 if local is not None and local.exists() else None
                inner.put_file(key, Path(tmp))
                if local is not None and mode is not None:
                    os.chmod(local, mode)
            finally:
                Path(tmp).unlink(missing_ok=True)
        count += 1
    return count
