"""Issue #20, part 2: the banked image is found as a ``copy`` when it is one tile of a chat album,
the photo inside a phone screenshot, under big meme text, heavily cropped, or smooth skin-like
content; composites of *other* pictures are never a copy; tiles too small to compare are
reported as skipped, not a crash."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene, smooth_scene
from haechi.demo.transforms import COMPOSITE_FAMILIES, album_tile, make_copy
from haechi.signals.regions import MIN_REGION_SIDE, find_regions
from tests.conftest import require_shared


def _verdicts(h: Haechi, files: list[Path]) -> dict[str, list[dict]]:
    return {Path(r["path"]).name: r["matches"] for r in h.scan(files)}


@pytest.fixture(scope="module")
def banked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Haechi, dict[str, Image.Image]]:
    root = tmp_path_factory.mktemp("composites")
    originals = {"s1": scene(731), "s2": scene(732), "skin1": smooth_scene(733), "skin2": smooth_scene(734)}
    bank = root / "bank"
    bank.mkdir()
    for name, im in originals.items():
        im.save(bank / f"{name}.png")
    h = Haechi(home=root / "h", workers=1)
    h.create_bank("b")
    list(h.add_to_bank("b", [bank]))
    yield h, originals
    h.close()


COPY_FAMILIES = sorted(COMPOSITE_FAMILIES)


@pytest.mark.parametrize("family", COPY_FAMILIES)
def test_each_composite_family_is_found_as_a_copy(banked: tuple[Haechi, dict[str, Image.Image]], family: str,
                                                  tmp_path: Path) -> None:
    h, originals = banked
    files = []
    for name in ("s1", "s2"):
        for seed in (1, 2):
            path = tmp_path / f"{name}_{seed}.jpg"
            make_copy(originals[name], family, seed=seed).save(path, quality=90)
            files.append(path)
    found = _verdicts(h, files)
    missed = {n: [(m["method"], m["verdict"]) for m in ms] for n, ms in found.items()
              if not any(m["verdict"] == "copy" and m["label"] is None for m in ms)}
    assert not missed, missed
    # and the copy is of the right banked image
    for name, ms in found.items():
        copies = {m["entry_id"] for m in ms if m["verdict"] == "copy"}
        assert len(copies) == 1, (name, ms)


@pytest.mark.parametrize("family", ["crop_offcentre", "phone_screenshot", "caption"])
def test_smooth_skin_like_images_are_found_as_copies(banked: tuple[Haechi, dict[str, Image.Image]], family: str,
                                                     tmp_path: Path) -> None:
    """Few corners (ORB found 15–25 at its usual threshold): low-texture images are detected
    again at a lower one, so their copies are still found — and verified as copies."""
    h, originals = banked
    files = []
    for name in ("skin1", "skin2"):
        path = tmp_path / f"{name}.jpg"
        make_copy(originals[name], family, seed=5).save(path, quality=90)
        files.append(path)
    found = _verdicts(h, files)
    missed = {n: [(m["method"], m["verdict"]) for m in ms] for n, ms in found.items()
              if not any(m["verdict"] == "copy" for m in ms)}
    assert not missed, missed


def test_copies_under_meme_text_are_verified_copies(banked: tuple[Haechi, dict[str, Image.Image]],
                                                    tmp_path: Path) -> None:
    """Big caption text covers cells of the dense check: those cells are left out (overlay
    strokes the banked image has no edges for), so copies under text are copies, not leads."""
    h, originals = banked
    files = []
    for name in ("s1", "s2"):
        for seed in range(1, 7):
            path = tmp_path / f"{name}_{seed}.jpg"
            make_copy(originals[name], "meme_text", seed=seed).save(path, quality=90)
            files.append(path)
    found = _verdicts(h, files)
    leads = {n: [(m["method"], m.get("agreement")) for m in ms] for n, ms in found.items()
             if not any(m["verdict"] == "copy" for m in ms)}
    assert not leads, leads


def test_an_album_of_other_pictures_is_not_a_copy(banked: tuple[Haechi, dict[str, Image.Image]],
                                                  tmp_path: Path) -> None:
    """Albums, screenshots and meme versions of pictures that are *not* banked match nothing."""
    h, _ = banked
    files = []
    for seed in range(3):
        other = scene(9100 + seed)
        for family in ("album_tile", "phone_screenshot", "meme_text"):
            path = tmp_path / f"o{seed}_{family}.jpg"
            make_copy(other, family, seed=seed).save(path, quality=90)
            files.append(path)
    found = _verdicts(h, files)
    wrong = {n: ms for n, ms in found.items() if any(m["verdict"] == "copy" for m in ms)}
    assert not wrong, wrong


def test_tiles_below_the_floor_are_skipped_with_a_reason(banked: tuple[Haechi, dict[str, Image.Image]],
                                                         tmp_path: Path) -> None:
    h, originals = banked
    small = originals["s1"].resize((64, 48))  # album_tile makes tiles a quarter of this: below the floor
    album = album_tile(small, random.Random(3))
    path = tmp_path / "tiny_album.jpg"
    album.save(path, quality=90)
    (row,) = list(h.scan([path]))
    assert row["error"] is None
    skipped = row.get("regions_skipped") or []
    assert skipped and all(f"{MIN_REGION_SIDE}-px floor" in s["reason"] for s in skipped), row
    assert all(min(s["box"][2:]) < MIN_REGION_SIDE for s in skipped)


def test_regions_of_an_album_are_its_tiles() -> None:
    rng = random.Random(11)
    album = np.asarray(album_tile(scene(740), rng))
    found = find_regions(album)
    assert len(found.found) >= 4
    sides = [min(r.w, r.h) for r in found.found]
    assert max(sides) - min(sides) <= 0.2 * max(sides), found  # tiles of one size, not the whole
    assert all(r.w * r.h < 0.5 * album.shape[0] * album.shape[1] for r in found.found)


def test_regions_of_tiny_and_odd_images_do_not_fail() -> None:
    for shape in [(1, 1, 3), (2, 600, 3), (600, 2, 3), (40, 40, 3), (64, 64, 3), (300, 300, 3)]:
        for fill in (0, 255):
            find_regions(np.full(shape, fill, np.uint8))
    find_regions(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))


def test_a_composite_of_the_other_stereo_view_is_not_a_copy(tmp_path: Path) -> None:
    """A different shot of the same scene stays a lead (or no match) inside a composite too."""
    photos = require_shared() / "photos_misc"
    right = Image.open(photos / "skimage_motorcycle_right.png").convert("RGB")
    files = []
    for family in ("album_tile", "phone_screenshot", "meme_text", "crop_heavy"):
        path = tmp_path / f"right_{family}.jpg"
        make_copy(right, family, seed=4).save(path, quality=90)
        files.append(path)
    with Haechi(home=tmp_path / "h", workers=1) as h:
        h.create_bank("b")
        list(h.add_to_bank("b", [photos / "skimage_motorcycle_left.png"]))
        found = _verdicts(h, files)
    wrong = {n: ms for n, ms in found.items() if any(m["verdict"] == "copy" for m in ms)}
    assert not wrong, wrong
