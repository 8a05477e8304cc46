"""Issue #17 low 15: a backup restored without its key says so plainly (which key, by
fingerprint), `haechi doctor` finds undecryptable data, and an undecryptable row never stops exact
and PDQ matching of the rest."""

from __future__ import annotations

from pathlib import Path

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
    with Haechi(home=tmp_path / "r", workers=1) as r:
        result = r.restore(tmp_path / "b.tar.gz")
        assert result["key_problems"] and fingerprint in result["key_needed"]
        (row,) = list(r.scan([tmp_path / "o.png"]))  # exact and PDQ still match; features skipped
        assert row["error"] is None and {m["method"] for m in row["matches"]} >= {"exact", "pdq"}
    doctor = CliRunner().invoke(app, ["doctor", "--json", "--home", str(tmp_path / "r")])
    assert doctor.exit_code == 1 and '"check": "encrypted data", "ok": false' in doctor.output
    assert "cannot be decrypted" in doctor.output
