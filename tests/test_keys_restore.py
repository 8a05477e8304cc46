"""Issue #17 low 15: a backup restored without its key says so plainly (which key, by
fingerprint), `haechi doctor` finds undecryptable data, and an undecryptable row never stops exact
and PDQ matching of the rest."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haechi import Haechi
from haechi.cli.main import app
from haechi.demo.samples import scene


def test_restore_without_the_key_names_the_key_and_matching_still_works(tmp_path: Path) -> None:
    scene(80).save(tmp_path / "o.png")
    with Haechi(home=tmp_path / "a", workers=1) as h:
        h.create_bank("b")
        list(h.add_to_bank("b", [tmp_path / "o.png"]))  # local features: encrypted
        h.create_case(victim_ref="V-1", contact="010-0000-0000")
        fingerprint = h.cipher.fingerprint()
        h.backup(tmp_path / "b.tar.gz")  # without the key
    from haechi.errors import InputError
    from haechi.store.models import LocalFeatureSet

    with Haechi(home=tmp_path / "r", workers=1) as r:
        # the dumps are sealed: without its key the restore writes nothing and names the key
        with pytest.raises(InputError, match=fingerprint):
            r.restore(tmp_path / "b.tar.gz")
        assert r.list_cases() == []
    with Haechi(home=tmp_path / "r", workers=1) as r:
        r.settings.key_file.unlink(missing_ok=True)
        shutil.copy(tmp_path / "a" / "secret.key", r.settings.key_file)
        r.runtime.forget_keys_and_indexes()
        assert not r.restore(tmp_path / "b.tar.gz")["key_problems"]
        with r.db.session() as s:  # one row no key can read
            for row in s.query(LocalFeatureSet):
                row.ciphertext = b"not a token"
        r.runtime.forget_keys_and_indexes()
        (row,) = list(r.scan([tmp_path / "o.png"]))  # exact and PDQ still match; features skipped
        assert row["error"] is None and {m["method"] for m in row["matches"]} >= {"exact", "pdq"}
    doctor = CliRunner().invoke(app, ["doctor", "--json", "--home", str(tmp_path / "r")])
    assert doctor.exit_code == 1 and '"check": "encrypted data", "ok": false' in doctor.output
    assert "cannot be decrypted" in doctor.output


def test_a_backup_without_the_key_holds_no_free_text(tmp_path: Path) -> None:
    """Red-team review of #17 high 4: a backup made without the key held, readable in
    ``db/*.jsonl``, the victim reference typed for a case, a bank's description and its entries'
    labels and notes, and a case item's path — all names a caseworker may type."""
    name = "Choi Minji"
    (tmp_path / f"{name}.png").parent.mkdir(exist_ok=True)
    scene(81).save(tmp_path / f"{name}.png")
    with Haechi(home=tmp_path / "a", workers=1) as h:
        h.create_bank("b", f"photos of {name}")
        list(h.add_to_bank("b", [tmp_path / f"{name}.png"], label=f"{name} 1"))
        h.set_item_note("b", 1, f"note on {name}")
        case = h.create_case(victim_ref=f"{name} 1998", contact="010-0000-0000")["case"]
        list(h.add_case_items(case, [str(tmp_path / f"{name}.png")]))
        h.backup(tmp_path / "b.tar.gz")
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            assert name.encode() not in data, member.name
            assert b"\xff\xd8\xff" not in data and b"\x89PNG" not in data, member.name
