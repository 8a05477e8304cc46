"""Issue #20 part 4: the optional BlazeFace detector (``Settings.face_detector``) gives boxes the
dlib landmark and embedding models can use: the same face as HOG's box, the same person."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from haechi.signals.faces import FaceEngine
from tests.conftest import SHARED_DATA


def test_an_unknown_detector_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no-such"):
        FaceEngine(detector="no-such")


@pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None, reason="haechi[blazeface] not installed")
def test_blazeface_boxes_match_hog_and_embed_the_same_person() -> None:
    photo = SHARED_DATA / "faces_deepface" / "deepface_id02_img27.jpg"
    if not photo.is_file():
        pytest.skip("needs ../shared/data")
    rgb = np.ascontiguousarray(np.asarray(Image.open(photo).convert("RGB")))
    hog, blaze = FaceEngine(), FaceEngine(detector="blazeface")
    (h,) = hog.detect(rgb)
    (b,) = blaze.detect(rgb)
    assert b.kind == "blazeface" and b.sharpness is not None
    x1, y1 = max(h.x, b.x), max(h.y, b.y)
    x2, y2 = min(h.x + h.w, b.x + b.w), min(h.y + h.h, b.y + b.h)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    assert inter / (h.w * h.h + b.w * b.h - inter) > 0.6
    assert float(hog.embed(rgb, h) @ blaze.embed(rgb, b)) > 0.95
