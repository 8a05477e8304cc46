"""Every blob store: put → exists → read back → SHA-256, key listing, missing keys and unsafe keys.
A new store registers a factory in ``FACTORIES`` (how to reach a test instance of it)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from haechi import plugins
from haechi.errors import ConfigError, NotFound
from haechi.store.blobs import BlobStore, open_store, read_bytes, sha256_of
from tests.test_storage import s3  # noqa: F401 - moto's standalone S3 server (skipped without moto)


def _file(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return open_store((tmp_path / "store").as_uri(), tmp_path / "default")


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    endpoint = request.getfixturevalue("s3")
    return open_store(f"s3://evidence/contract-{tmp_path.name}", tmp_path / "default", endpoint_url=endpoint)


FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], BlobStore]] = {"file": _file, "s3": _s3}
SCHEMES = list(plugins.stores())


@pytest.fixture(params=[pytest.param(s, marks=pytest.mark.slow) if s == "s3" else s for s in SCHEMES])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    scheme = request.param
    assert scheme in FACTORIES, f"add a test factory for the {scheme!r} store to FACTORIES"
    made = FACTORIES[scheme](request, tmp_path)
    assert made.scheme == scheme
    return made


def test_put_get_and_hash_check(store: BlobStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4099  # > 1 MiB: more than one read chunk
    src = tmp_path / "artefact.bin"
    src.write_bytes(data)
    key = "2026-11-30/abc/capture.warc.gz"
    assert not store.exists(key)
    store.put_file(key, src)
    store.put_file(key, src)  # writing the same artefact again is harmless
    assert store.exists(key)
    assert read_bytes(store, key) == data and read_bytes(store, key, 10) == data[:10]
    assert sha256_of(store, key) == hashlib.sha256(data).hexdigest()
    assert list(store.keys("2026-11-30/")) == [key] and list(store.keys("2025")) == []
    local = store.local_path(key)
    assert local is None or local.read_bytes() == data
    with pytest.raises(NotFound):
        read_bytes(store, "2026-11-30/abc/missing")
    for bad in ("", "../outside", "/etc/passwd", "a/../../b"):
        with pytest.raises(ConfigError):
            store.put_file(bad, src)
