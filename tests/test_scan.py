"""Scanning: every copy family matches, unrelated images do not, with the contract fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.transforms import FAMILIES, make_copy
from tests.conftest import require_shared

CONTRACT = {"path", "sha256", "md5", "pdq", "pdq_quality", "media_type", "width", "height", "error", "matches"}
MATCH_FIELDS = {"bank", "entry_id", "label", "signal_type", "distance", "transform"}


@pytest.fixture
def banked(haechi: Haechi, images: Path) -> Haechi:
    haechi.create_bank("reported")
    for path in sorted(images.iterdir()):
        list(haechi.add_to_bank("reported", [path], label=path.stem))
    return haechi


def test_every_copy_family_matches_its_original(banked: Haechi, images: Path, tmp_path: Path) -> None:
    found = tmp_path / "found"
    found.mkdir()
    for i, path in enumerate(sorted(images.iterdir())):
        im = Image.open(path).convert("RGB")
        for j, family in enumerate(FAMILIES):
            make_copy(im, family, seed=i * 31 + j).save(found / f"{path.stem}__{family}.jpg")
    for k in range(20):
        scene(7000 + k).save(found / f"unrelated_{k}.jpg")
    rows = list(banked.scan([found]))
    assert len(rows) == 6 * len(FAMILIES) + 20
    missed = []
    for row in rows:
        assert set(row) >= CONTRACT and row["error"] is None
        name = Path(row["path"]).stem
        if name.startswith("unrelated"):
            assert row["matches"] == [], row
            continue
        stem, family = name.split("__")
        if not row["matches"]:
            missed.append(name)
            continue
        best = row["matches"][0]
        assert set(best) >= MATCH_FIELDS
        assert best["label"] == stem and best["bank"] == "reported"
        if family in ("rot90", "rot180", "flip_h", "transpose"):
            assert best["transform"] == family
            assert best["signal_type"] == "pdq" and best["distance"] <= 31
    assert missed == []


def test_exact_copy_reports_distance_zero_for_each_signal(banked: Haechi, images: Path) -> None:
    row = next(banked.scan([images / "img_2.png"]))
    kinds = {m["signal_type"]: m for m in row["matches"]}
    assert set(kinds) == {"sha256", "md5", "pdq"}
    assert all(m["distance"] == 0 and m["transform"] == "original" for m in kinds.values())
    assert row["matches"][0]["signal_type"] in ("sha256", "md5")


def test_threshold_and_bank_selection(banked: Haechi, images: Path, tmp_path: Path) -> None:
    banked.create_bank("empty")
    copy = tmp_path / "c.jpg"
    arr = np.asarray(Image.open(images / "img_3.png").convert("RGB").resize((300, 225)), dtype=np.int16)
    noisy = np.clip(arr + np.random.default_rng(0).integers(-40, 40, arr.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(copy, quality=20)
    assert next(banked.scan([copy], banks=["empty"]))["matches"] == []
    pdq_matches = [m for m in next(banked.scan([copy], banks=["reported"]))["matches"] if m["signal_type"] == "pdq"]
    assert pdq_matches and pdq_matches[0]["distance"] > 0
    d = pdq_matches[0]["distance"]
    strict = [m for m in next(banked.scan([copy], threshold=d - 1))["matches"] if m["method"] == "pdq"]
    assert strict == []


def test_new_entries_match_at_once_and_removed_entries_never(haechi: Haechi, images: Path) -> None:
    haechi.create_bank("b")
    target = images / "img_4.png"
    assert next(haechi.scan([target]))["matches"] == []  # index now loaded in memory
    added = list(haechi.add_to_bank("b", [target]))[0]
    row = next(haechi.scan([target]))
    assert {m["entry_id"] for m in row["matches"]} == set(added.entry_ids)
    for entry in added.entry_ids:
        haechi.remove_entry("b", entry)
    assert next(haechi.scan([target]))["matches"] == []


def test_persisted_index_sees_entries_added_by_another_process(tmp_path: Path, images: Path) -> None:
    home = tmp_path / "home"
    with Haechi(home=home, workers=1) as first:
        first.create_bank("b")
        list(first.add_to_bank("b", [images / "img_0.png"]))
        assert next(first.scan([images / "img_0.png"]))["matches"]  # builds and saves the index
    with Haechi(home=home, workers=1) as writer:
        list(writer.add_to_bank("b", [images / "img_5.png"]))
    with Haechi(home=home, workers=1) as reader:
        row = next(reader.scan([images / "img_5.png"]))
        assert any(m["signal_type"] == "pdq" for m in row["matches"])


def test_low_quality_images_do_not_pdq_match(sqlite_haechi: Haechi, tmp_path: Path) -> None:
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(flat)
    other = tmp_path / "flat2.png"
    Image.fromarray(np.full((220, 180, 3), 90, np.uint8)).save(other)
    sqlite_haechi.create_bank("b")
    list(sqlite_haechi.add_to_bank("b", [flat]))
    row = next(sqlite_haechi.scan([other]))
    assert row["pdq_quality"] < 50
    assert row["matches"] == []


@pytest.mark.slow
def test_real_photo_suite_recall_and_no_false_matches() -> None:
    """A smaller draw of bench/bench_robustness.py on ../shared/data, same bar: >= 97%, 0 false."""
    data = require_shared()
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_robustness import related_map, split

    from haechi.demo.evaluation import run_suite

    bank, others = split(data)
    result = run_suite(bank[::3], others[::3], generated_distractors=100, related=related_map())
    assert result.recall >= 0.97, result.families
    assert result.false_matches == []
    # the anchors really are weaker on the same copies
    assert sum(result.baseline_dihedral.values()) < 0.7 * result.total


@pytest.mark.parametrize("op,expected", [(Image.Transpose.ROTATE_90, "rot90"), (Image.Transpose.ROTATE_270, "rot270"),
                                         (Image.Transpose.FLIP_LEFT_RIGHT, "flip_h")])
def test_cropped_and_turned_copies_match_locally_with_transform(
        banked: Haechi, images: Path, tmp_path: Path, op: Image.Transpose, expected: str) -> None:
    im = Image.open(images / "img_5.png").convert("RGB")
    cropped = im.crop((60, 10, im.width - 20, im.height - 70)).transpose(op)
    copy = tmp_path / "copy.jpg"
    cropped.save(copy, quality=85)
    row = next(banked.scan([copy]))
    assert row["matches"], "cropped + turned copy not found"
    best = row["matches"][0]
    assert best["label"] == "img_5"
    assert best["transform"] == expected
    if best["signal_type"] == "orb":
        assert best["inliers"] >= 25 and 0 < best["coverage"] <= 1


def test_local_feature_index_is_kept_between_scans_and_follows_bank_changes(
        haechi: Haechi, images: Path, tmp_path: Path) -> None:
    """One instance scanning again and again (a worker, the API) reuses its built local-feature
    index, and sees an added or removed bank image on the next scan."""
    haechi.create_bank("b")
    list(haechi.add_to_bank("b", [images / "img_0.png"], label="img_0"))
    im = Image.open(images / "img_5.png").convert("RGB")
    copy = tmp_path / "copy.jpg"
    im.crop((60, 10, im.width - 20, im.height - 70)).transpose(Image.Transpose.ROTATE_90).save(copy, quality=85)
    assert not any(m["label"] == "img_5" for m in next(haechi.scan([copy]))["matches"])
    first = haechi.runtime._local_cache
    next(haechi.scan([copy]))
    assert haechi.runtime._local_cache is first  # unchanged bank: the built index is reused
    (added,) = list(haechi.add_to_bank("b", [images / "img_5.png"], label="img_5"))
    found = [m for m in next(haechi.scan([copy]))["matches"] if m["label"] == "img_5"]
    assert found and found[0]["signal_type"] == "orb", found  # found by local features, not PDQ
    for entry_id in added.entry_ids:
        haechi.remove_entry("b", entry_id)
    assert not any(m["label"] == "img_5" for m in next(haechi.scan([copy]))["matches"])
