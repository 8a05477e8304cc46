"""Issue #17 low 13: text a person types into a case (a reviewer's note that names her) is never
in the custody log in the clear, and erasing the case (crypto-shredding: its key is deleted)
makes it unreadable for good while the hash chain still verifies."""

from __future__ import annotations

import tarfile
from pathlib import Path

from sqlalchemy import select

from haechi import Haechi
from haechi.demo.site import serve
from haechi.store.casekeys import ERASED
from haechi.store.models import CaseKey
from tests.helpers import scene_jpeg

NAME = "Kim Ji-won 김지원"


def _every_byte_under(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _backup_bytes(archive: Path) -> bytes:
    with tarfile.open(archive) as tar:
        return b"".join(f.read() for m in tar.getmembers() if (f := tar.extractfile(m)) is not None)


def test_a_name_in_a_note_is_sealed_and_erasing_the_case_shreds_it(tmp_path: Path) -> None:
    routes = {"/p": ("text/html", b'<img src="/m.jpg">'), "/m.jpg": ("image/jpeg", scene_jpeg(74))}
    home = tmp_path / "home"
    with Haechi(home=home, workers=1) as h, serve(routes) as site:
        ref = h.create_case()["case"]
        list(h.add_case_items(ref, [f"{site}/p"], allow_private=True))
        (entry,) = [e for e in h.review_queue() if e.case == ref]
        h.review_decide("reviewer", entry, "confirmed", note=f"she is {NAME}, seen at her school")
        assert NAME in h.case_decisions(ref)[(entry.item, entry.index)].note  # readable while the case lives
        h.backup(tmp_path / "backup.tar.gz")
        with h.db.session() as s:
            wrapped = s.scalar(select(CaseKey.wrapped).where(CaseKey.case_ref == ref))
        assert wrapped

    needle = NAME.encode()
    # never in the clear: not in the database (or its WAL), any file of the home, or the backup
    assert needle not in _every_byte_under(home)
    assert needle not in _backup_bytes(tmp_path / "backup.tar.gz")

    from typer.testing import CliRunner

    from haechi.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["case", "erase", ref, "--home", str(home)])
    assert r.exit_code == 2 and "--yes" in r.output  # never by accident
    r = runner.invoke(app, ["case", "erase", ref, "--yes", "--by", "admin", "--home", str(home)])
    assert r.exit_code == 0 and f"erased {ref}" in r.output, r.output
    with Haechi(home=home, workers=1) as h:
        assert h.case_decisions(ref)[(entry.item, entry.index)].note == ERASED
        assert h.case_decisions(ref)[(entry.item, entry.index)].decision == "confirmed"  # the fact stays
        assert h.verify_custody(ref)["ok"] and h.verify_custody()["ok"]
        assert h.erase_case(ref)["key_erased"] is False  # nothing left to erase
    # the key is gone from the disk too (SQLite secure_delete, WAL checkpointed)
    assert wrapped not in _every_byte_under(home)
