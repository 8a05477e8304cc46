"""Where evidence artefacts live: one interface, a local directory by default, S3-compatible
object storage as a plugin.

Why an interface: on one machine the evidence folder under the home is enough; with workers on
many machines every worker must write captures where the others (and the export) can read them.
Keys are relative paths (``2026-11-25/<uuid>/capture.warc.gz``); artefacts are written once and
never modified — their SHA-256 is in the custody log, and every read for verification or export
is checked against it, so a store that lost or changed a byte is caught.

A store is one class registered in :data:`STORES` under a URL scheme and chosen by
``$HAECHI_STORAGE_URL`` (``file:///srv/haechi/evidence``, ``s3://bucket/prefix``; default the
``evidence`` folder under the home).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol
from urllib.parse import urlparse

from haechi.errors import ConfigError, NotFound


class BlobStore(Protocol):
    scheme: ClassVar[str]
    url: str

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` (a no-op when it already is that file)."""

    def open(self, key: str) -> IO[bytes]:
        """A readable binary stream of ``key``; raises :class:`NotFound`."""

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...

    def local_path(self, key: str) -> Path | None:
        """The file itself when the store is a local directory (for tools that need a path)."""


def read_bytes(store: BlobStore, key: str, max_bytes: int | None = None) -> bytes:
    with store.open(key) as fh:
        return fh.read() if max_bytes is None else fh.read(max_bytes)


def sha256_of(store: BlobStore, key: str) -> str:
    h = hashlib.sha256()
    with store.open(key) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_key(key: str) -> str:
    parts = Path(key).parts
    if not key or Path(key).is_absolute() or ".." in parts:
        raise ConfigError(f"invalid storage key {key!r}")
    return "/".join(parts)


class LocalBlobStore:
    """A directory (the default: ``<home>/evidence``)."""

    scheme: ClassVar[str] = "file"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = self.root.resolve().as_uri() if self.root.is_absolute() else f"file://{self.root}"

    def put_file(self, key: str, path: Path) -> None:
        target = self.root / _safe_key(key)
        if target.exists() and target.resolve() == Path(path).resolve():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(target)  # atomic: a reader never sees half a file

    def open(self, key: str) -> IO[bytes]:
        path = self.root / _safe_key(key)
        if not path.is_file():
            raise NotFound("artefact", key)
        return path.open("rb")

    def exists(self, key: str) -> bool:
        return (self.root / _safe_key(key)).is_file()

    def keys(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and not p.name.endswith(".part"):
                rel = p.relative_to(self.root).as_posix()
                if rel.startswith(prefix):
                    yield rel

    def local_path(self, key: str) -> Path | None:
        return self.root / _safe_key(key)


class S3BlobStore:
    """S3 or any S3-compatible store (MinIO, Ceph RGW, ...) through boto3 (``pip install
    haechi[s3]``). Credentials come from boto3's usual chain (environment, config files, instance
    role) — never from Haechi's own settings; ``$HAECHI_S3_ENDPOINT_URL`` points at a non-AWS
    server. Enable bucket versioning or object lock for write-once evidence."""

    scheme: ClassVar[str] = "s3"
    #: optional dependencies (auto-archiver manifest style), reported by `haechi doctor` via haechi.plugins
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("boto3",)}

    def __init__(self, url: str, endpoint_url: str | None = None) -> None:
        try:
            import boto3
        except ImportError:
            raise ConfigError("s3:// storage needs boto3: pip install 'haechi[s3]'") from None
        parsed = urlparse(url)
        if not parsed.netloc:
            raise ConfigError(f"storage URL {url!r} has no bucket")
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        k = _safe_key(key)
        return f"{self.prefix}/{k}" if self.prefix else k

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def open(self, key: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound("artefact", key) from None
            raise
        return body  # StreamingBody: read(), close(), context manager

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def keys(self, prefix: str = "") -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    def local_path(self, key: str) -> Path | None:
        return None


#: the one place a storage backend is registered: URL scheme -> class
STORES: dict[str, type] = {"file": LocalBlobStore, "s3": S3BlobStore}


def open_store(url: str | None, default_root: Path, endpoint_url: str | None = None) -> BlobStore:
    if not url:
        return LocalBlobStore(default_root)
    scheme = urlparse(url).scheme
    if scheme not in STORES:
        raise ConfigError(f"unknown storage URL scheme {scheme!r} in {url!r} (known: {', '.join(sorted(STORES))})")
    if scheme == "file":
        return LocalBlobStore(Path(urlparse(url).path))
    return S3BlobStore(url, endpoint_url=endpoint_url)
