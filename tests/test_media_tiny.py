"""Tiny and flat images (#16): 1x1 tracking pixels, 600x1 spacers, icons and long banners never
abort a batch. Variants that need size (middle band, ORB) are skipped below a floor; PDQ is still
computed and its quality reported."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.services.analyse import AnalyseOptions, analyse
from haechi.signals.local import orb_features
from haechi.sources import MediaRef

SHAPES = [(1, 1), (1, 600), (600, 1), (2, 2), (3, 40), (16, 16), (40, 6000)]


def _png(w: int, h: int, value: int | None = None) -> bytes:
    rng = np.random.default_rng(w * 7919 + h)
    arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8) if value is None else np.full((h, w, 3), value, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _gif(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("P", (w, h), 0).save(buf, "GIF", transparency=0)
    return buf.getvalue()


@pytest.mark.parametrize(("w", "h"), SHAPES)
def test_scan_options_on_tiny_images_give_a_hash_not_an_error(w: int, h: int) -> None:
    opts = AnalyseOptions(max_pixels=50_000_000, max_file_bytes=10**8, dihedral=True, trim=True,
                          local_features=1500)
    for data in (_png(w, h), _gif(w, h)):
        rec = analyse(MediaRef(path=f"{w}x{h}", data=data), opts)
        assert rec.error is None, rec.error
        assert rec.media_type == "image"
        assert rec.pdq is not None and rec.pdq_quality is not None
        assert (rec.width, rec.height) == (w, h)
        if min(w, h) < 16:
            assert rec.band_variants == () and rec.band_quality is None  # skipped below the floor
        assert rec.local is not None


@pytest.mark.parametrize(("w", "h"), SHAPES)
def test_orb_on_tiny_images_is_empty_not_cv2_error(w: int, h: int) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
    features = orb_features(rgb, 1500)
    if min(w, h) < 32 or (max(w, h) > 640 and min(w, h) * 640 / max(w, h) < 32):
        assert len(features) == 0


def test_band_still_computed_for_normal_images() -> None:
    buf = io.BytesIO()
    scene(3).save(buf, "PNG")
    opts = AnalyseOptions(max_pixels=50_000_000, max_file_bytes=10**8, dihedral=True, trim=True)
    rec = analyse(MediaRef(path="scene.png", data=buf.getvalue()), opts)
    assert len(rec.band_variants) == 8 and rec.band_quality


def test_scan_of_a_folder_with_a_beacon_and_a_spacer_reports_every_file(sqlite_haechi: Haechi,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "scraped"
    folder.mkdir()
    scene(11).save(folder / "a_photo.jpg")
    (folder / "b_beacon.gif").write_bytes(_gif(1, 1))
    (folder / "c_spacer.gif").write_bytes(_gif(600, 1))
    scene(12).save(folder / "d_photo.jpg")
    sqlite_haechi.create_bank("B")
    added = list(sqlite_haechi.add_to_bank("B", [folder / "d_photo.jpg", folder / "b_beacon.gif"]))
    assert len(added) == 2
    rows = list(sqlite_haechi.scan([folder]))
    assert [Path(r["path"]).name for r in rows] == ["a_photo.jpg", "b_beacon.gif", "c_spacer.gif", "d_photo.jpg"]
    assert all(r["error"] is None for r in rows)
    assert rows[3]["matches"]
    assert rows[1]["pdq_quality"] == 0


def test_api_upload_of_a_tracking_pixel_is_not_a_500(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from haechi.api.app import create_app
    from haechi.services import accounts

    with Haechi(home=tmp_path / "home", workers=1) as h:
        with h.db.session() as s:
            accounts.add_user(s, "cw", "caseworker", "correct horse battery staple")
        with h.db.session() as s:
            token = accounts.create_token(s, "cw", "test")
        client = TestClient(create_app(h, lookup_rate=10_000))
        auth = {"Authorization": f"Bearer {token}"}
        assert client.post("/c/banks", json={"name": "B"}, headers=auth).status_code == 201
        for name, data in (("px.gif", _gif(1, 1)), ("spacer.gif", _gif(600, 1)), ("icon.png", _png(16, 16))):
            r = client.post("/c/bank/B/content", files={"photo": (name, data, "image/png")}, headers=auth)
            assert r.status_code == 200, r.text
            r = client.post("/h/hash", files={"photo": (name, data, "image/png")}, headers=auth)
            assert r.status_code == 200 and r.json()["pdq_quality"] is not None, r.text
