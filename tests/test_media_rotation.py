"""Phone videos with a display-matrix rotation (#16): the pixels are stored sideways and the
container says how to turn them. Frames are turned upright before faces, assessment and preview
see them (vPDQ coped either way); displayed width and height are swapped accordingly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.media.video import VideoInfo, VideoLimits, iter_frames
from haechi.signals.pdq import hamming, pdq_of

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces_face_recognition"


def _write(path: Path, frames: list[np.ndarray], rotation: int | None, fps: int = 5) -> Path:
    """Encode ``frames`` (already as stored) with a display rotation, as a phone does."""
    import av

    container = av.open(str(path), "w")
    try:
        stream: Any = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return path


def _upright_frames() -> list[np.ndarray]:
    return [np.asarray(scene(40 + i // 5, (240, 320))) for i in range(10)]  # portrait 240x320


def _first(path: Path) -> tuple[np.ndarray, VideoInfo]:
    info = VideoInfo()
    frames: Iterator[Any] = iter_frames(str(path), path.name, VideoLimits(max_pixels=10**8, short_side=320), info)
    return next(iter(frames)).rgb, info


@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_sideways_video_is_turned_upright(tmp_path: Path, rotation: int) -> None:
    upright = _upright_frames()
    # stored so that turning by ``rotation`` degrees counter-clockwise shows it upright
    stored = [np.ascontiguousarray(np.rot90(f, k=-rotation // 90)) for f in upright]
    phone = _write(tmp_path / f"phone_{rotation}.mp4", stored, rotation)
    plain = _write(tmp_path / "upright.mp4", upright, None)
    got, info = _first(phone)
    ref, ref_info = _first(plain)
    assert got.shape == ref.shape  # portrait, as it is shown
    assert (info.width, info.height) == (ref_info.width, ref_info.height) == (240, 320)
    assert hamming(pdq_of(got).hash, pdq_of(ref).hash) <= 16


@pytest.mark.skipif(not SHARED_FACES.exists(), reason="../shared/data/faces_face_recognition not present")
def test_faces_found_in_a_sideways_phone_video(sqlite_haechi: Haechi, tmp_path: Path) -> None:
    photo = Image.open(SHARED_FACES / "obama_02.jpg").convert("RGB")
    photo.thumbnail((320, 320))
    canvas = Image.new("RGB", (320, 320), (20, 20, 20))
    canvas.paste(photo, ((320 - photo.width) // 2, (320 - photo.height) // 2))
    upright = [np.asarray(canvas)] * 10
    phone = _write(tmp_path / "phone.mp4", [np.ascontiguousarray(np.rot90(f, k=1)) for f in upright], -90)
    sqlite_haechi.enroll_subject("s", [SHARED_FACES / "obama_01.jpg"])
    (row,) = list(sqlite_haechi.scan([phone], faces=True))
    assert any(f["match"] and f["subject"] == "s" for f in row["faces"])
