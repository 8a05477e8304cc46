"""Every registered face detector (``haechi.signals.faces.FACE_DETECTORS``) under the same
contract: it loads exactly when its declared dependencies are present (else an ImportError, which
``haechi doctor`` reports as optional); on odd and face-less images it returns well-formed boxes
or none, never an exception; its boxes lie in the image, honour ``min_face``, carry a declared
``kind`` and a sharpness, largest first, the same on every call; and on portraits it finds the
face with a box dlib's landmark and embedding models can use — each photo's nearest other photo
is the same person."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from haechi import plugins
from haechi.demo.samples import scene, smooth_scene
from haechi.signals.faces import MIN_FACE, FaceEngine
from tests.conftest import require_shared

NAMES = list(plugins.face_detectors())
#: two photos each of five people (faces_openface, faces_face_recognition)
PORTRAITS = {
    "faces_openface": ("clapton_1.jpg", "clapton_2.jpg", "lennon_1.jpg", "lennon_2.jpg"),
    "faces_face_recognition": ("obama_01.jpg", "obama_02.jpg", "biden_01.jpg", "biden_02.jpg",
                               "kit_harington_01.jpg", "kit_harington_02.jpg"),
}
_engines: dict[str, FaceEngine] = {}


def _entry(name: str) -> plugins.Plugin:
    (entry,) = [p for p in plugins.index(("face_detectors",)) if p.name == name]
    return entry


def _engine(name: str) -> FaceEngine:
    """The detector's engine, loaded once per test session; skips when its optional dependency
    is missing (that case is the subject of the loading test)."""
    if _entry(name).missing():
        pytest.skip(f"{name}: {', '.join(map(str, _entry(name).missing()))} not installed")
    if name not in _engines:
        _engines[name] = FaceEngine(detector=name)
    return _engines[name]


def _check_boxes(name: str, rgb: np.ndarray, min_face: int = MIN_FACE) -> list:
    boxes = _engine(name).detect(rgb, min_face=min_face)
    h, w = rgb.shape[:2]
    kinds = plugins.face_detectors()[name].kinds
    for b in boxes:
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= w and b.y + b.h <= h, (b, rgb.shape)
        assert min(b.w, b.h) >= min_face, b
        assert b.kind in kinds, b
        assert b.sharpness is not None and b.sharpness >= 0
    assert [b.w * b.h for b in boxes] == sorted((b.w * b.h for b in boxes), reverse=True)
    return boxes


@pytest.mark.parametrize("name", NAMES)
def test_a_detector_loads_exactly_when_its_dependencies_are_present(name: str) -> None:
    entry = _entry(name)
    assert entry.dependencies, f"{name} declares no dependencies"
    if entry.missing():
        with pytest.raises(ImportError):
            FaceEngine(detector=name)
    else:
        assert _engine(name).detector == name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 600), (600, 2), (48, 32), (240, 320), (1700, 1200)])
def test_a_detector_gives_well_formed_boxes_on_odd_and_faceless_images(name: str, shape: tuple[int, int]) -> None:
    h, w = shape
    images = [np.zeros((h, w, 3), np.uint8), np.full((h, w, 3), 255, np.uint8),
              np.random.default_rng(5).integers(0, 256, (h, w, 3), dtype=np.uint8)]
    if min(h, w) >= 48:  # the generators need room for their shapes
        images += [np.asarray(scene(5, (w, h))), np.asarray(smooth_scene(5, (w, h)))]
    for rgb in images:
        _check_boxes(name, np.ascontiguousarray(rgb))
    assert not _engine(name).detect(np.zeros((h, w, 3), np.uint8))  # nothing in a blank image


@pytest.mark.parametrize("name", NAMES)
def test_a_detector_finds_each_portraits_face_and_its_boxes_identify_people(name: str) -> None:
    shared = require_shared()
    photos = [shared / folder / f for folder, files in PORTRAITS.items() for f in files]
    engine = _engine(name)
    embeddings, people = [], []
    for path in photos:
        rgb = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
        boxes = _check_boxes(name, rgb)
        assert boxes, f"{name} found no face in {path.name}"
        assert boxes == engine.detect(rgb), "not the same boxes on a second call"
        # a larger min_face drops exactly the smaller boxes
        side = min(boxes[0].w, boxes[0].h)
        assert all(min(b.w, b.h) >= side for b in _check_boxes(name, rgb, min_face=side))
        embeddings.append(engine.embed(rgb, boxes[0]))
        people.append(Path(path).stem.rsplit("_", 1)[0])
    sims = np.array(embeddings) @ np.array(embeddings).T
    np.fill_diagonal(sims, -1.0)
    nearest = [people[int(j)] for j in sims.argmax(1)]
    assert nearest == people, list(zip(people, nearest, strict=True))
