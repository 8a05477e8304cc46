"""Evidence encrypted at rest (issue #17, high 4): no intimate image lies readable on disk or in a
backup made without the key; verification, export, review and key rotation still work."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from haechi import Haechi
from haechi.demo.site import serve
from haechi.errors import InputError
from haechi.evidence.package import verify_package
from haechi.store.crypto import Cipher
from haechi.store.sealed import CHUNK, MAGIC, open_sealed, seal_stream
from tests.helpers import scene_jpeg

MARKER = b"UNIQUE-VICTIM-MARKER-7731"


def _seal(data: bytes, cipher: Cipher) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, cipher)
    return out.getvalue()


def _unseal(blob: bytes, cipher: Cipher) -> bytes:
    return open_sealed(io.BytesIO(blob), "x", cipher).read()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_seal_round_trip_and_any_change_is_refused(size: int) -> None:
    cipher = Cipher(b"ZmFrZS1rZXktZm9yLXRlc3RzLW9ubHktMzItYnl0ZXM=")
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    blob = _seal(data, cipher)
    assert blob.startswith(MAGIC) and data[:64] not in blob[len(MAGIC):] or size < 64
    assert _unseal(blob, cipher) == data
    header = len(MAGIC) + 2 + int.from_bytes(blob[len(MAGIC):len(MAGIC) + 2], "big") + 7
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(InputError):
        _unseal(bytes(flipped), cipher)
    if size > CHUNK:  # a whole chunk dropped, or the object cut at a chunk boundary
        with pytest.raises(InputError):
            _unseal(blob[:header] + blob[header + CHUNK + 16:], cipher)
        with pytest.raises(InputError):
            _unseal(blob[:header + CHUNK + 16], cipher)
    with pytest.raises(InputError):  # another home's key
        _unseal(blob, Cipher(b"b3RoZXItaG9tZS1rZXktZm9yLXRlc3RzLTMyLWJ5dGU="))
    assert _unseal(data, cipher) == data  # objects stored before sealing existed are read as they are


def test_captured_evidence_is_sealed_on_disk_and_in_backups_and_still_verifies(tmp_path: Path) -> None:
    image = scene_jpeg(51)[:-2] + MARKER + b"\xff\xd9"
    page = b"<html><body><p>" + MARKER + b'</p><img src="/img/a.jpg"></body></html>'
    home = tmp_path / "home"
    with serve({"/p.html": ("text/html", page), "/img/a.jpg": ("image/jpeg", image)}) as site, \
            Haechi(home=home, workers=1) as h:
        (row,) = list(h.capture([f"{site}/p.html"], case_ref="SEAL", screenshot=False, allow_private=True))
        assert row["error"] is None and row["media"]
        leaks = [p for p in home.rglob("*") if p.is_file() and MARKER in p.read_bytes()]
        assert leaks == [], f"plaintext evidence on disk: {leaks}"
        assert Path(row["warc"]).read_bytes().startswith(MAGIC)
        assert h.verify_custody("SEAL")["ok"]
        assert MARKER in (h.media_bytes("SEAL", f"{site}/img/a.jpg") or b"")  # the review queue can read it
        out = tmp_path / "court.zip"  # the package for a court is the plaintext copy, verifiable offline
        h.export_evidence("SEAL", out, plaintext=True)
        assert verify_package(out)["ok"]
        backup = tmp_path / "b.tar"
        h.backup(backup)  # without the key
        with tarfile.open(backup) as tar:
            assert all(MARKER not in (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                       for m in tar.getmembers())
        counts = h.rotate_keys()
        assert counts["evidence_keys"] >= 1
        assert h.verify_custody("SEAL")["ok"]  # data keys re-wrapped: readable with the new key only
        assert MARKER in (h.media_bytes("SEAL", f"{site}/img/a.jpg") or b"")
        # a sealed artefact changed on disk is caught
        warc = Path(row["warc"])
        warc.chmod(0o600)
        raw = bytearray(warc.read_bytes())
        raw[len(raw) // 2] ^= 1
        warc.write_bytes(bytes(raw))
        assert not h.verify_custody("SEAL")["ok"]


def test_exported_packages_are_encrypted_unless_a_plaintext_copy_is_asked_for(tmp_path: Path) -> None:
    """Issue #17 high 4: `evidence export` writes an age-encrypted package (recipient or passphrase);
    the plaintext court copy needs --plaintext; `evidence verify` decrypts to check."""
    import pyrage
    from typer.testing import CliRunner

    from haechi.cli.main import app

    page = b"<html><body><p>" + MARKER + b"</p></body></html>"
    home = str(tmp_path / "home")
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "id.txt").write_text(f"# created for the test\n{identity}\n")
    runner = CliRunner()
    with serve({"/p.html": ("text/html", page)}) as site:
        r = runner.invoke(app, ["capture", f"{site}/p.html", "--case", "ENC", "--no-screenshot", "--allow-private",
                                "--home", home])
        assert r.exit_code == 0, r.output
    refused = runner.invoke(app, ["evidence", "export", "ENC", str(tmp_path / "p.zip"), "--home", home])
    assert refused.exit_code == 2 and "--plaintext" in refused.output and not (tmp_path / "p.zip").exists()
    r = runner.invoke(app, ["evidence", "export", "ENC", str(tmp_path / "p.age"), "--recipient",
                            str(identity.to_public()), "--home", home])
    assert r.exit_code == 0, r.output
    sealed = (tmp_path / "p.age").read_bytes()
    assert MARKER not in sealed and not sealed.startswith(b"PK")
    assert runner.invoke(app, ["evidence", "verify", str(tmp_path / "p.age")]).exit_code == 2  # no key given
    ok = runner.invoke(app, ["evidence", "verify", str(tmp_path / "p.age"), "--identity", str(tmp_path / "id.txt")])
    assert ok.exit_code == 0, ok.output
    r = runner.invoke(app, ["evidence", "export", "ENC", str(tmp_path / "q.age"), "--passphrase-stdin",
                            "--home", home], input="correct horse battery staple\n")
    assert r.exit_code == 0 and MARKER not in (tmp_path / "q.age").read_bytes()
    ok = runner.invoke(app, ["evidence", "verify", str(tmp_path / "q.age"), "--passphrase-stdin"],
                       input="correct horse battery staple\n")
    assert ok.exit_code == 0, ok.output
    r = runner.invoke(app, ["evidence", "export", "ENC", str(tmp_path / "court.zip"), "--plaintext", "--home", home])
    assert r.exit_code == 0 and verify_package(tmp_path / "court.zip")["ok"]
