"""The ``hma`` exchange format speaks python-threatexchange's signal type names (issue #22, F3):
HMA's ``POST /c/bank/{name}/signal`` answers 400 for any name that is not an enabled signal type,
and tx has ``video_md5`` / ``video_sha256`` but no photo MD5."""

from __future__ import annotations

import json
from pathlib import Path

from haechi import Haechi
from haechi.cases.exchange import ExchangedSignal, exchange
from haechi.signals import MD5Signal, PDQSignal, SHA256Signal, VPDQSignal

PDQ = PDQSignal.examples()[0]
MD5 = MD5Signal.examples()[0]
SHA = SHA256Signal.examples()[0]
VPDQ = VPDQSignal.examples()[0]


def test_hma_lines_carry_tx_names_and_no_photo_md5() -> None:
    text = exchange("hma").dump([
        ExchangedSignal("pdq", PDQ, content_type="photo"),
        ExchangedSignal("md5", MD5, content_type="photo"),
        ExchangedSignal("sha256", SHA, content_type="photo"),
        ExchangedSignal("md5", MD5, content_type="video"),
        ExchangedSignal("sha256", SHA, content_type="video"),
        ExchangedSignal("vpdq", VPDQ, content_type="video"),
        ExchangedSignal("md5", MD5),  # content type unknown: not claimed to be a video's
    ])
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines == [{"pdq": PDQ}, {"video_md5": MD5}, {"video_sha256": SHA}, {"vpdq": VPDQ}]


def test_hma_import_reads_tx_names_and_the_old_md5() -> None:
    text = "\n".join(json.dumps(x) for x in (
        {"pdq": PDQ}, {"video_md5": MD5}, {"video_sha256": SHA}, {"md5": MD5.upper()}, {"photo_md5": MD5}))
    signals, errors = exchange("hma").load(text, "in.jsonl")
    assert [(s.signal_type, s.signal, s.content_type) for s in signals] == [
        ("pdq", PDQ, None), ("md5", MD5, "video"), ("sha256", SHA, "video"), ("md5", MD5, None)]
    assert len(errors) == 1 and "in.jsonl:5" in errors[0] and "photo_md5" in errors[0]


def test_round_trip_of_tx_names() -> None:
    ex = exchange("hma")
    sent = [ExchangedSignal("md5", MD5, content_type="video"), ExchangedSignal("vpdq", VPDQ, content_type="video")]
    got, errors = ex.load(ex.dump(sent), "x")
    assert errors == [] and got == sent


def test_a_bank_of_photos_exports_no_md5_in_hma_lines(tmp_path: Path, images: Path) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.create_bank("ours")
        list(h.add_to_bank("ours", [images]))
        lines = [json.loads(line) for line in h.exchange_export("hma", bank="ours").splitlines()]
    assert lines and all(list(obj) == ["pdq"] for obj in lines)
