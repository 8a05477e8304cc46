"""Hostile uploads found by trying to break ``haechi serve`` (#16, #21): inputs that are small to
send and cost the hashing pool far more than their size. Each kind is bounded where the bytes are
decoded (``haechi.media``), so every route, the CLI and the workers get the bound:

* a JPEG whose header repeats its Exif segment (39 MB, 600 segments: Pillow joins them with a
  quadratic ``+=``, 17 s in ``Image.open`` before a pixel);
* a huge still image of a format without draft decoding (an 8900x8900 PNG of 77 KB: 13 s and
  2.1 GB in PDQ) — hashed box-reduced, as JPEGs already were by draft decoding;
* an animation with a huge canvas (a 4.6 KB GIF of 200 one-pixel frames on 3000x3000: 32 s),
  bounded by a budget of composited pixels.
"""

from __future__ import annotations

import io
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from haechi import Haechi
from haechi.api.app import create_app
from haechi.api.media import URL_FETCHES
from haechi.demo.samples import scene
from haechi.media.decode import REDUCE_ABOVE_PIXELS, decode_image
from haechi.media.formats import open_image
from haechi.media.video import VideoInfo, VideoLimits, iter_frames
from haechi.signals.pdq import hamming, pdq_of
from tests.helpers import scene_jpeg, served
from tests.test_api_pool import _server_home, _token, heavy_png, slow_gif


def many_exif_segments(jpeg: bytes, count: int) -> bytes:
    """``jpeg`` with ``count`` full (64 KiB) Exif APP1 segments after its SOI marker."""
    body = b"Exif\x00\x00" + b"MM\x00*\x00\x00\x00\x08" + b"\x00" * (65533 - 6 - 8)
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment * count + jpeg[2:]


def test_a_jpeg_repeating_its_exif_segment_opens_with_one_and_decodes_the_same() -> None:
    plain = scene_jpeg(5)
    hostile = many_exif_segments(plain, 40)
    im = open_image(hostile)
    assert len(im.info["exif"]) <= 65535  # Pillow would have joined all 40 (2.6 MB)
    assert np.array_equal(decode_image(hostile, "x.jpg", max_pixels=10**8).rgb,
                          decode_image(plain, "x.jpg", max_pixels=10**8).rgb)
    assert open_image(plain).info.get("exif") is None and open_image(plain).size == im.size


def textured(side: int) -> bytes:
    """A PNG of a generated scene enlarged to side x side (PDQ has texture to read)."""
    buf = io.BytesIO()
    scene(9).resize((side, side), Image.Resampling.BICUBIC).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def test_a_huge_still_image_is_hashed_reduced_within_a_few_bits_of_full_resolution() -> None:
    data = textured(6000)  # 36 M pixels, no draft decoding for PNG
    image = decode_image(data, "big.png", max_pixels=80_000_000)
    assert (image.width, image.height) == (6000, 6000)  # the size shown is the file's
    assert image.rgb.shape[0] * image.rgb.shape[1] <= REDUCE_ABOVE_PIXELS
    full = decode_image(data, "big.png", max_pixels=80_000_000, draft_min_side=None)
    assert full.rgb.shape[:2] == (6000, 6000)  # draft_min_side=None still means full resolution
    assert hamming(pdq_of(image.rgb).hash, pdq_of(full.rgb).hash) <= 8


def test_an_animation_stops_at_its_budget_of_composited_pixels() -> None:
    side = 1000
    limits = VideoLimits(max_pixels=80_000_000, max_decoded_pixels=10 * side * side)
    info = VideoInfo()
    data = slow_gif(side, 60)  # 60 frames of 0.1 s
    frames = list(iter_frames(io.BytesIO(data), "wide.gif", limits, info, data))
    assert info.truncated and frames and max(f.number for f in frames) < 10
    assert (info.width, info.height) == (side, side)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    h = Haechi(home=tmp_path / "home", workers=1, hash_pool_workers=1, hash_pool_queue=2, hash_time_limit=8.0)
    h.create_bank("B")
    token = _token(h)
    with TestClient(create_app(h, lookup_rate=10_000), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    h.close()


@pytest.mark.slow
@pytest.mark.parametrize("route", ["/h/hash", "/m/lookup", "/c/bank/B/content"])
def test_hostile_small_uploads_are_answered_well_within_the_time_limit(api: TestClient, route: str) -> None:
    """Before the bounds each took longer than this server's 8 s limit (a 422, the worker killed:
    17 s and 13 s on an idle core); now each is answered, the JPEG with the hashes of the same
    JPEG without the extra segments."""
    plain = scene_jpeg(6)
    inputs = {"exif.jpg": many_exif_segments(plain, 600), "wide.png": heavy_png(8900)}
    for name, data in inputs.items():
        r = api.post(route, files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 200, (name, r.text)
    expected = api.post("/h/hash", files={"file": ("plain.jpg", plain, "image/jpeg")}).json()["pdq"]
    got = api.post("/h/hash", files={"file": ("exif.jpg", many_exif_segments(plain, 600), "image/jpeg")})
    assert got.json()["pdq"] == expected


class _Held(BaseHTTPRequestHandler):
    """Holds every request until ``release`` is set, then answers 404 (a site that drips)."""

    release = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.release.wait(30)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.mark.slow
def test_slow_url_fetches_cannot_take_every_request_thread(tmp_path: Path) -> None:
    """``?url=`` fetches held request threads until the remote side answered or timed out (20 s):
    50 of them at a site that drips took all 40 of a process's threads and ``/api/me`` waited for
    them. Now at most ``URL_FETCHES`` run at once per process; the next are a 503 at once."""
    home, token = _server_home(tmp_path)
    site = ThreadingHTTPServer(("127.0.0.1", 0), _Held)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{site.server_address[1]}/held.jpg"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with served(home, "--allow-private-urls") as (base, _), \
                httpx.Client(base_url=base, headers=auth, timeout=60) as client, ThreadPoolExecutor(50) as ex:
            assert client.get("/api/me").status_code == 200
            routes = [("GET", "/h/hash"), ("GET", "/m/lookup"), ("POST", "/c/bank/B/content")]
            held = [ex.submit(client.request, *routes[i % 3], params={"url": url}) for i in range(50)]
            time.sleep(2)  # every fetch has reached the server (or been refused)
            answered = 0  # /api/me answers while the fetches are held
            for _ in range(5):
                with httpx.Client(base_url=base, headers=auth, timeout=3) as other:
                    answered += other.get("/api/me").status_code == 200
            _Held.release.set()
            answers = [f.result() for f in held]
        assert answered == 5
        fetched = [r for r in answers if r.status_code == 400]  # the site's 404, once released
        refused = [r for r in answers if r.status_code == 503]
        assert len(fetched) <= URL_FETCHES and len(fetched) + len(refused) == 50, {r.status_code for r in answers}
        assert all(r.json()["error"] == "Busy" and int(r.headers["Retry-After"]) >= 1 for r in refused)
    finally:
        _Held.release.set()
        site.shutdown()
