"""Evidence storage behind one interface: the local directory and an S3-compatible server
(moto's standalone server, a real HTTP S3 API on 127.0.0.1); and settings from a config file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from haechi import Haechi
from haechi.config import resolve_settings
from haechi.errors import ConfigError, NotFound
from haechi.evidence.package import verify_package
from haechi.services.evidence import media_bytes, verify_artefacts
from haechi.store.blobs import LocalBlobStore, open_store, read_bytes
from haechi.store.sealed import raw_store
from tests.test_evidence import site  # noqa: F401 - the test web server fixture

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    pytest.importorskip("moto")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in CREDS}
    os.environ.update(CREDS)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        import boto3

        boto3.client("s3", endpoint_url=url).create_bucket(Bucket="evidence")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_captures_go_to_object_storage_and_verify_from_there(tmp_path: Path, site: str, s3: str) -> None:  # noqa: F811
    import boto3

    with Haechi(home=tmp_path / "home", workers=1, storage_url="s3://evidence/centre-a",
                s3_endpoint_url=s3) as h:
        (cap,) = list(h.capture([f"{site}/page.html"], case_ref="CASE-S3", screenshot=False, allow_private=True))
        assert cap["error"] is None and cap["warc"].startswith("s3://evidence/centre-a/")
        assert not any(p.is_file() for p in h.evidence_dir.rglob("*"))  # the staging copy is gone
        keys = list(h.blobs.keys())
        assert len(keys) == len(cap["sha256"]) and all(k.endswith(tuple(cap["sha256"])) for k in keys)
        assert verify_artefacts(h.runtime) == []
        img = media_bytes(h.runtime, "CASE-S3", f"{site}/img/copy.jpg")
        assert img is not None and img[:2] == b"\xff\xd8"
        out = tmp_path / "case.zip"
        assert h.export_evidence("CASE-S3", out, actor="officer", plaintext=True)["files"] == len(keys)
        assert verify_package(out)["ok"]
        backup = tmp_path / "backup.tar.gz"
        h.backup(backup)
        # a changed object in the bucket is caught, and the export refuses it
        warc_key = next(k for k in keys if k.endswith(".warc.gz"))
        boto3.client("s3", endpoint_url=s3).put_object(Bucket="evidence", Key=f"centre-a/{warc_key}",
                                                       Body=b"replaced")
        problems = verify_artefacts(h.runtime)
        assert len(problems) == 1 and "modified" in problems[0]
        with pytest.raises(Exception, match="tampered"):
            h.export_evidence("CASE-S3", tmp_path / "again.zip", actor="officer", plaintext=True)
        key = h.settings.key_file.read_bytes()
    # the backup (taken before the change) restores into a home with a local store, given the key
    # from the secret store: the evidence in it is sealed and useless without it
    (tmp_path / "restored").mkdir()
    (tmp_path / "restored" / "secret.key").write_bytes(key)
    with Haechi(home=tmp_path / "restored", workers=1) as r:
        r.restore(backup)
        assert verify_artefacts(r.runtime) == []
        assert isinstance(raw_store(r.blobs), LocalBlobStore) and len(list(r.blobs.keys())) == len(keys)


def test_local_store_keys_and_errors(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "ev")
    src = tmp_path / "a.bin"
    src.write_bytes(b"abc")
    store.put_file("2026-01-01/x/a.bin", src)
    assert read_bytes(store, "2026-01-01/x/a.bin") == b"abc"
    assert list(store.keys()) == ["2026-01-01/x/a.bin"]
    with pytest.raises(NotFound):
        store.open("2026-01-01/x/missing")
    for bad in ("../escape", "/etc/passwd", ""):
        with pytest.raises(ConfigError):
            store.put_file(bad, src)
    with pytest.raises(ConfigError, match="unknown storage URL scheme"):
        open_store("ftp://host/x", tmp_path)


def test_settings_from_config_file_env_and_arguments(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "haechi.toml").write_text('[haechi]\npdq_threshold = 24\nstorage_url = "file:///srv/ev"\nworkers = 3\n')
    s = resolve_settings(home, env={})
    assert (s.pdq_threshold, s.storage_url, s.workers) == (24, "file:///srv/ev", 3)
    s = resolve_settings(home, env={"HAECHI_PDQ_THRESHOLD": "20"}, workers=1)  # env over file, argument over all
    assert (s.pdq_threshold, s.workers) == (20, 1)
    other = tmp_path / "other.toml"
    other.write_text(f'home = "{tmp_path / "h2"}"\ndatabase_url = "sqlite:///{tmp_path / "x.db"}"\n')
    s = resolve_settings(env={"HAECHI_CONFIG": str(other)})
    assert s.home == tmp_path / "h2" and s.database_url.endswith("x.db")
    (home / "haechi.toml").write_text("pdq_treshold = 24\n")  # a typo is an error, not a silent default
    with pytest.raises(ConfigError, match="unknown setting 'pdq_treshold'"):
        resolve_settings(home, env={})
    (home / "haechi.toml").write_text("workers = 'many'\n")
    with pytest.raises(ConfigError, match="workers must be int"):
        resolve_settings(home, env={})
    (home / "haechi.toml").write_text("[haechi\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve_settings(home, env={})
    with pytest.raises(ConfigError, match="HAECHI_WORKERS must be int"):
        resolve_settings(tmp_path / "h3", env={"HAECHI_WORKERS": "x"})
