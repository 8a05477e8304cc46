"""Issue #20 part 4: a face match clears the threshold *and* beats every other enrolled subject by
a margin; tiny faces are reported as such; matches carry a band a reviewer understands."""

from __future__ import annotations

from typing import Any

import numpy as np

from haechi.index.faces import DIM, FaceIndex
from haechi.services.analyse import AnalyseOptions, MediaRecord
from haechi.services.faces import Gallery
from haechi.services.scan import FACE_MARGIN, MIN_FACE_PX, SearchContext
from haechi.signals.faces import FaceBox


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def _towards(base: np.ndarray, other: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` to ``base``, in the plane of ``other``."""
    ortho = _unit(other - (other @ base) * base)
    return _unit(cos * base + np.sqrt(1 - cos * cos) * ortho)


def _faces(gallery: Gallery, emb: np.ndarray, side: int = 120) -> list[dict[str, Any]]:
    ctx = SearchContext(AnalyseOptions(10**8, 10**9), None, None, 31, 50, gallery, 0.92)  # type: ignore[arg-type]
    record = MediaRecord(path="q.jpg")
    record.face_data = [(FaceBox(0, 0, side, side, 1.0, "frontal"), emb, None)]
    return ctx.search_faces(record)


def test_a_face_between_two_subjects_is_no_match_and_a_clear_one_is_banded() -> None:
    rng = np.random.default_rng(3)
    a, b = _unit(rng.normal(size=DIM)), _unit(rng.normal(size=DIM))
    b = _towards(a, b, 0.95)  # two enrolled people who look alike
    gallery = Gallery(FaceIndex(np.stack([a, b]), np.array([1, 2])), {1: "S-A", 2: "S-B"})
    between = _unit(a + b)  # ~0.987 to both: above the threshold, but no margin
    (face,) = _faces(gallery, between)
    assert face["similarity"] >= 0.92 and not face["match"] and face["subject"] is None
    clear = _towards(a, _unit(rng.normal(size=DIM)), 0.99)
    (face,) = _faces(gallery, clear)
    assert face["match"] and face["subject"] == "S-A" and face["band"] == "strong"
    only_a = Gallery(FaceIndex(a[None, :], np.array([1])), {1: "S-A"})
    (face,) = _faces(only_a, _towards(a, _unit(rng.normal(size=DIM)), 0.925))
    assert face["match"] and face["band"] == "possible"
    assert FACE_MARGIN > 0


def test_a_face_too_small_for_an_embedding_is_reported_not_matched() -> None:
    rng = np.random.default_rng(4)
    a = _unit(rng.normal(size=DIM))
    gallery = Gallery(FaceIndex(a[None, :], np.array([1])), {1: "S-A"})
    (face,) = _faces(gallery, a, side=MIN_FACE_PX - 1)
    assert face.get("too_small") and not face["match"]


def test_a_blurred_face_is_reported_not_matched() -> None:
    """A face blurred past recognition (its embedding drifts towards other people's) is marked
    ``blurred`` and never named, even when its embedding is close to an enrolled one; the same
    face sharp is matched. Real photo when ../shared/data is present, else a drawn face."""
    from haechi._lazy import cv2
    from haechi.signals.faces import MIN_SHARPNESS, engine, face_sharpness
    from tests.conftest import SHARED_DATA

    photo = SHARED_DATA / "faces_deepface" / "deepface_id01_img2.jpg"
    if not photo.is_file():
        import pytest

        pytest.skip("needs ../shared/data")
    from PIL import Image

    rgb = np.ascontiguousarray(np.asarray(Image.open(photo).convert("RGB")))
    eng = engine()
    (box, *_) = eng.detect(rgb)
    assert box.sharpness is not None and box.sharpness >= MIN_SHARPNESS
    emb = eng.embed(rgb, box)
    gallery = Gallery(FaceIndex(emb[None, :], np.array([1])), {1: "S-A"})
    ctx = SearchContext(AnalyseOptions(10**8, 10**9), None, None, 31, 50, gallery, 0.92)  # type: ignore[arg-type]
    blurred = cv2.GaussianBlur(rgb, (0, 0), 4 * box.w / 112)
    (bbox, *_) = eng.detect(blurred) or [box]
    bbox = FaceBox(bbox.x, bbox.y, bbox.w, bbox.h, bbox.score, bbox.kind, face_sharpness(blurred, bbox))
    for b, image, expect in ((box, rgb, True), (bbox, blurred, False)):
        record = MediaRecord(path="q.jpg")
        record.face_data = [(b, eng.embed(image, b), None)]
        (face,) = ctx.search_faces(record)
        assert face["match"] is expect and bool(face.get("blurred")) is not expect, face
