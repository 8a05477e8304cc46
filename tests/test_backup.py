"""Backups: restore into an empty home gives identical scan results and a custody log that
still verifies; tampered or foreign archives are refused; the key stays out unless asked."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from haechi import Haechi
from haechi.demo.transforms import make_copy
from haechi.errors import InputError
from haechi.services import backup as backup_service


def _matches(h: Haechi, folder: Path) -> dict[str, list[tuple[str, int]]]:
    return {Path(r["path"]).name: [(m["bank"], m["entry_id"]) for m in r["matches"]] for r in h.scan([folder])}


def test_backup_restore_round_trip(haechi: Haechi, images: Path, tmp_path: Path) -> None:
    haechi.create_bank("b")
    list(haechi.add_to_bank("b", [images], label="L"))
    copies = tmp_path / "copies"
    copies.mkdir()
    for i, f in enumerate(sorted(images.iterdir())):
        from PIL import Image

        make_copy(Image.open(f).convert("RGB"), "crop_centre", seed=i).save(copies / f"{f.stem}.jpg", quality=90)
    ref = haechi.create_case(victim_ref="V-9", contact="secret contact")["case"]
    list(haechi.add_case_items(ref, [str(copies)], actor="kim"))
    before = _matches(haechi, copies)
    assert all(before.values())
    out = tmp_path / "backup.tar.gz"
    result = haechi.backup(out)
    assert not result["key_included"] and out.stat().st_mode & 0o777 == 0o600
    with tarfile.open(out) as tar:
        assert "secret.key" not in tar.getnames()
    # restore into an empty home (SQLite, whatever the source was), with the key from the secret store
    target_home = tmp_path / "restored"
    target_home.mkdir()
    (target_home / "secret.key").write_bytes(haechi.settings.key_file.read_bytes())
    with Haechi(home=target_home, workers=1) as restored:
        info = restored.restore(out)
        assert info["restored"]["bank_entries"] > 0
        assert _matches(restored, copies) == before
        assert restored.verify_custody()["ok"] and restored.verify_custody(ref)["entries"] >= 2
        assert restored.show_case(ref)["items"]
        with pytest.raises(InputError):
            restored.restore(out)  # not empty any more


def test_tampered_backup_is_refused(sqlite_haechi: Haechi, images: Path, tmp_path: Path) -> None:
    sqlite_haechi.create_bank("b")
    list(sqlite_haechi.add_to_bank("b", [images]))
    out = tmp_path / "b.tar.gz"
    sqlite_haechi.backup(out, include_key=True)
    assert backup_service.verify(out)["key_included"]
    with tarfile.open(out) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for name, data in members.items():
            if name == "db/bank_entries.jsonl":
                data = data[:-1] + bytes([data[-1] ^ 1])  # one bit of the (sealed) dump
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with Haechi(home=tmp_path / "t", workers=1) as target:
        with pytest.raises(InputError) as exc:
            target.restore(bad)
        assert "bank_entries" in str(exc.value)
        assert target.list_banks() == []  # nothing half-restored
        (tmp_path / "junk.tar.gz").write_bytes(b"junk")
        with pytest.raises(InputError):
            target.restore(tmp_path / "junk.tar.gz")
        info = target.restore(out)  # the genuine one works, key included
        assert info["key_restored"] and target.list_banks()[0]["name"] == "b"
