"""haechi.cases.review on SQLite and PostgreSQL: queue order, decisions read back from the
custody log, exposure counted per reviewer and day, notice items checked against decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from haechi import Haechi
from haechi.cases import review
from haechi.demo.samples import scene
from haechi.errors import InputError


def test_review_queue_decisions_and_exposure(haechi: Haechi, tmp_path: Path) -> None:
    h = haechi
    refs = []
    for k in range(2):
        photo = tmp_path / f"p{k}.jpg"
        scene(60 + k).save(photo)
        refs.append(h.create_case(victim_ref=f"V-{k}")["case"])
        list(h.add_case_items(refs[-1], [str(photo)]))
    with h.db.session() as s:
        entries = review.queue(s)
        assert [e.case for e in entries] == refs and all(e.decision is None for e in entries)
        review.log_view(s, "ana", entries[0], "reveal")
        review.log_view(s, "ana", entries[0], "hide", seconds_shown=3.0)
        review.log_view(s, "bo", entries[1], "reveal")
        review.decide(s, "ana", entries[0], "escalate")
        review.decide(s, "bo", entries[0], "confirmed", note="same scar")
        with pytest.raises(InputError, match="decision must be one of"):
            review.decide(s, "ana", entries[1], "probably")
    with h.db.session() as s:
        assert review.exposure_today(s, "ana") == 1 and review.exposure_today(s, "bo") == 1
        first = review.entry(s, entries[0].item, entries[0].index)
        assert first is not None and first.decision is not None
        assert (first.decision.decision, first.decision.actor, first.decision.note) == ("confirmed", "bo", "same scar")
        assert review.confirmed_items(s, refs[0]) == {entries[0].item} and review.confirmed_items(s, refs[1]) == set()
        assert review.notice_items(s, refs[0], [entries[0].item]) == [entries[0].item]
        with pytest.raises(InputError, match="not confirmed"):
            review.notice_items(s, refs[1], [entries[1].item])
        with pytest.raises(InputError, match="not an open item"):
            review.notice_items(s, refs[1], [entries[0].item])  # another case's item
        assert review.entry(s, 2**62, 0) is None and review.entry(s, entries[0].item, 99) is None
    h.set_item_status(entries[1].item, "still_up")
    with h.db.session() as s:
        assert [e.case for e in review.queue(s)] == [refs[1], refs[0]]
    assert h.verify_custody()["ok"]
