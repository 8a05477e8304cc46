"""Victim self-service (issue #17, high 2): one victim can neither learn of nor undo another's
submission — a shared hash stays while any submission holds it; status never shows de-duplication."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.signals.pdq import pdq_of


def _file(seed: int) -> dict[str, str]:
    return {"sha256": f"{seed:02d}" * 32, "md5": f"{seed:02d}" * 16, "pdq": pdq_of(np.asarray(scene(seed))).hash}


def test_the_same_image_submitted_twice_shows_the_same_status_and_survives_one_withdrawal(
        tmp_path: Path, database_url: str) -> None:
    with Haechi(home=tmp_path / "h", database_url=database_url, workers=1) as h:
        attacker = h.victim_submit([_file(41)])           # submits her image first (to probe, or to erase it)
        victim = h.victim_submit([_file(41), _file(42)])
        fresh = h.victim_submit([_file(43)])
        # status is the same whether or not someone submitted the hash before: no oracle
        assert h.victim_status(attacker["case"])["hashes"] == 3
        assert h.victim_status(fresh["case"])["hashes"] == 3
        assert h.victim_status(victim["case"])["hashes"] == 6
        # the attacker withdraws: the victim's hash stays, and her status is unchanged
        out = h.victim_withdraw(attacker["case"])
        assert out["hashes_deleted"] == 3  # what the withdrawer is told does not reveal sharing either
        assert [m["bank"] for m in h.lookup("pdq", _file(41)["pdq"])] == ["victim-submitted"]
        assert h.lookup("md5", _file(41)["md5"])
        assert h.victim_status(victim["case"])["hashes"] == 6
        # the victim withdraws: now her hashes go, from every bank and index
        h.victim_withdraw(victim["case"])
        assert h.lookup("pdq", _file(41)["pdq"]) == [] and h.lookup("pdq", _file(42)["pdq"]) == []
        assert h.lookup("sha256", _file(42)["sha256"]) == []
        assert len(h.lookup("pdq", _file(43)["pdq"])) == 1  # someone else's submission is untouched


def test_her_status_counts_copies_found_in_a_caseworkers_case_and_her_photos(tmp_path: Path) -> None:
    """Issue #19: "Copies found 0" after copies of her images were found in a caseworker's case,
    and "9 hashes held" for 3 photos. She sees photos and copies; never the other case."""
    from haechi.cases import service as cases

    with Haechi(home=tmp_path / "h", workers=1) as h:
        sub = h.victim_submit([_file(44), _file(45), _file(46)])
        [entry] = [m["entry_id"] for m in h.lookup("pdq", _file(44)["pdq"])]
        other = h.create_case(victim_ref="V-staff")["case"]
        with h.db.session() as s:  # a caseworker's capture found a copy of her first photo
            cases.add_item(s, other, "https://forum.example/t/9", [{"url": "https://forum.example/a.jpg",
                           "matches": [{"bank": "victim-submitted", "entry_id": entry, "verdict": "copy"}]}], "kim")
        status = h.victim_status(sub["case"])
    assert status["photos"] == 3 and status["copies_found"] == 1 and status["items_by_status"] == {"found": 1}
    assert other not in str(status) and "forum.example" not in str(status)


def test_her_status_is_no_oracle_for_copies_found_before_she_submitted(tmp_path: Path) -> None:
    """Red-team review of #17: anyone holding an image could submit it and read from the status
    page whether a centre had already found copies (and how far the takedown got) — telling an
    abuser that she reported. Copies found before a submission are not counted; later ones are."""
    from haechi.cases import service as cases

    with Haechi(home=tmp_path / "h", workers=1) as h:
        first = h.victim_submit([_file(48)])  # the victim: her image is in the bank
        [entry] = [m["entry_id"] for m in h.lookup("pdq", _file(48)["pdq"])]
        other = h.create_case(victim_ref="V-staff")["case"]
        match = [{"url": "https://forum.example/a.jpg",
                  "matches": [{"bank": "victim-submitted", "entry_id": entry, "verdict": "copy"}]}]
        with h.db.session() as s:  # a centre finds and notifies a copy
            cases.add_item(s, other, "https://forum.example/t/1", match, "kim")
        assert h.victim_status(first["case"])["copies_found"] == 1
        probe = h.victim_submit([_file(48)])  # someone else holding the image submits it
        assert h.victim_status(probe["case"])["copies_found"] == 0
        assert h.victim_status(probe["case"])["items_by_status"] == {}
        with h.db.session() as s:  # a copy found after both submissions counts for both
            cases.add_item(s, other, "https://forum.example/t/2", match, "kim")
        assert h.victim_status(probe["case"])["copies_found"] == 1
        assert h.victim_status(first["case"])["copies_found"] == 2


def test_free_text_typed_about_a_victim_never_enters_the_append_only_log(tmp_path: Path) -> None:
    """Issue #17 low 13: a name typed as a victim reference, or in a local file's path, was copied
    into the hash-chained custody log, where it could never be erased."""
    from haechi.store.models import CustodyEntry

    (tmp_path / "Kim Jiyoung").mkdir()
    scene(47).save(tmp_path / "Kim Jiyoung" / "photo.png")
    with Haechi(home=tmp_path / "h", workers=1) as h:
        ref = h.create_case(victim_ref="Kim Jiyoung 1998")["case"]
        list(h.add_case_items(ref, [str(tmp_path / "Kim Jiyoung" / "photo.png")]))
        with h.db.session() as s:
            log = " ".join(f"{e.details} {e.artefacts}" for e in s.query(CustodyEntry))
        assert h.verify_custody(ref)["ok"]
    assert "Kim Jiyoung" not in log
