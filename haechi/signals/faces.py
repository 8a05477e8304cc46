"""Face detection and embedding with dlib's models as PyPI ships them (nothing downloaded).

Why dlib: ``dlib-bin`` (Boost licence) and ``face-recognition-models`` (MIT code; the model
files are Davis King's, released for any use) install from PyPI with the weights inside, and
the ResNet embedding is well studied (99.38% on LFW). Alternatives measured or considered:
dlib's CNN (MMOD) detector finds more profile faces but took 1.6 s per 640-px photo here;
InsightFace/DeepFace/SFace download weights at run time.

Detection: dlib's HOG detector at one upsampling (finds faces from ~40 px); it is five HOG
filters — frontal, turned left, turned right and two tilted — so half-profile faces are found.
Full profiles need the CNN detector, which is available (``FaceEngine(cnn=True)``) but ~20x
slower. (OpenCV 5 dropped the Haar profile cascade; its YuNet detector needs a downloaded
model.) Embedding: 5-point
landmarks, aligned 150x150 chip, 128-d ResNet descriptor, L2-normalised so the inner product is
the cosine similarity used for matching.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

#: faces smaller than this (pixels, box side) are not reported: too small to identify
MIN_FACE = 40
#: faces are searched on images scaled so the long side is at most this
DETECT_LONG_SIDE = 1600
#: a face whose sharpness (:func:`face_sharpness`) is below this is too blurred to identify.
#: Measured on the faces in ../shared/data: every real face scored >= 64; blurred by a Gaussian of
#: sigma 3 px at 112 px (embeddings drift towards other people's: median cosine to the sharp face
#: 0.96, 5th percentile 0.94) every one scored <= 15; sigma 1.5 (cosine >= 0.976) 9.5-48
MIN_SHARPNESS = 20.0
SHARPNESS_SIDE = 112


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int
    score: float
    kind: str  # which detector filter fired: frontal | left | right | tilted | cnn | blazeface
    sharpness: float | None = None  # face_sharpness of the box (None: not measured)

    def box(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def model_path(name: str) -> str:
    """A model file shipped by ``face-recognition-models``, found without importing the package
    (its ``__init__`` imports ``pkg_resources``, which setuptools >= 81 no longer has)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face-recognition-models is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / "models" / name)


def face_sharpness(rgb: np.ndarray, box: FaceBox) -> float:
    """Variance of the Laplacian of the face's grey crop, scaled down to at most
    ``SHARPNESS_SIDE`` pixels (never up: a small face is not blurred by being small). Higher is
    sharper; below :data:`MIN_SHARPNESS` the face is too blurred for a reliable embedding."""
    from haechi._lazy import cv2

    crop = rgb[max(0, box.y):box.y + box.h, max(0, box.x):box.x + box.w]
    if crop.size == 0:
        return 0.0
    side = max(crop.shape[:2])
    if side > SHARPNESS_SIDE:
        f = SHARPNESS_SIDE / side
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                          interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _iou(a: FaceBox, b: FaceBox) -> float:
    from haechi.signals.blazeface import box_iou

    return box_iou((a.x, a.y, a.w, a.h), (b.x, b.y, b.w, b.h))


@dataclass(frozen=True)
class FaceDetector:
    """A face detector :class:`FaceEngine` can use (``Settings.face_detector``): its name, what it
    is, the ``FaceBox.kind`` values its boxes carry, and its dependencies (``{"python": [...]}``,
    auto-archiver manifest style, listed by :mod:`haechi.plugins` and ``haechi doctor``)."""

    name: str
    summary: str
    kinds: tuple[str, ...]
    dependencies: dict[str, tuple[str, ...]]


#: the face detector registry (``haechi.plugins.face_detectors``; the contract tests in
#: tests/contracts/test_face_detectors.py run on each): "hog" is dlib's, always installed, the
#: default; "blazeface" is MediaPipe's (``pip install 'haechi[blazeface]'``): 2x faster and finds
#: small faces HOG misses, but misses a few it finds at full size (bench/faces.md)
FACE_DETECTORS: dict[str, FaceDetector] = {d.name: d for d in (
    FaceDetector("hog", "dlib's HOG detector: five filters (frontal, turned, tilted), faces from ~40 px",
                 ("frontal", "left", "right", "tilted"), {"python": ("dlib",)}),
    FaceDetector("blazeface", "MediaPipe's full-range BlazeFace (LiteRT), whole image and tiles; boxes mapped "
                 "onto HOG's for dlib's landmarks", ("blazeface",), {"python": ("dlib", "ai_edge_litert")}),
)}
#: BlazeFace's box (forehead included) mapped onto the box dlib's HOG detector draws for the same
#: face, which its landmark and embedding models expect: width scale, downward shift / width
#: (fitted on the faces in ../shared/data found by both; bench/bench_faces.py)
BLAZE_TO_HOG = (0.88, 0.15)


class FaceEngine:
    """Loads the models once per process (about a second); thread-compatible, not thread-safe.

    ``detector``: a key of :data:`FACE_DETECTORS`; ImportError when its package is missing,
    ValueError for an unknown name."""

    def __init__(self, cnn: bool = False, detector: str = "hog") -> None:
        import dlib

        if detector not in FACE_DETECTORS:
            raise ValueError(f"unknown face detector {detector!r} (known: {', '.join(FACE_DETECTORS)})")
        self.detector = detector
        self._blaze = None
        if detector == "blazeface":
            from haechi.signals.blazeface import BlazeFace

            self._blaze = BlazeFace()
        self._dlib = dlib
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = dlib.cnn_face_detection_model_v1(model_path("mmod_human_face_detector.dat")) if cnn else None
        self._shape = dlib.shape_predictor(model_path("shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(model_path("dlib_face_recognition_resnet_model_v1.dat"))

    def detect(self, rgb: np.ndarray, min_face: int = MIN_FACE) -> list[FaceBox]:
        """Faces in an RGB image (coordinates in that image), largest first; faces whose box is
        under ``min_face`` pixels are dropped (too small to identify)."""
        from haechi._lazy import cv2

        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_LONG_SIDE / max(h, w))
        img = rgb
        if scale < 1.0:
            img = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
        img = np.ascontiguousarray(img)
        # upsampling doubles the image for the 80-px HOG window: needed only for small faces
        upsample = 1 if max(img.shape[:2]) <= 1000 else 0
        if self._blaze is not None:
            k, down = BLAZE_TO_HOG
            boxes = [FaceBox(round(x + (1 - k) * w / 2), round(y + down * w), round(k * w), round(k * h), sc,
                             "blazeface") for x, y, w, h, sc in self._blaze.detect(img)]
        else:
            rects, scores, kinds = self._hog.run(img, upsample, -0.2)
            names = {0: "frontal", 1: "left", 2: "right", 3: "tilted", 4: "tilted"}
            boxes = [FaceBox(r.left(), r.top(), r.width(), r.height(), float(s), names.get(int(k), "frontal"))
                     for r, s, k in zip(rects, scores, kinds, strict=True)]
        if self._cnn is not None:
            for d in self._cnn(img, upsample):
                r = d.rect
                b = FaceBox(r.left(), r.top(), r.width(), r.height(), float(d.confidence), "cnn")
                if all(_iou(b, f) < 0.3 for f in boxes):
                    boxes.append(b)
        out = []
        for b in boxes:
            x, y = max(0, b.x), max(0, b.y)
            bw, bh = min(img.shape[1], b.x + b.w) - x, min(img.shape[0], b.y + b.h) - y
            fb = FaceBox(int(x / scale), int(y / scale), int(bw / scale), int(bh / scale), b.score, b.kind)
            if min(fb.w, fb.h) >= min_face:
                out.append(dataclasses.replace(fb, sharpness=round(face_sharpness(rgb, fb), 2)))
        return sorted(out, key=lambda b: -b.w * b.h)

    def _shape_of(self, img: np.ndarray, face: FaceBox) -> object:
        return self._shape(img, self._dlib.rectangle(face.x, face.y, face.x + face.w, face.y + face.h))

    def landmarks(self, rgb: np.ndarray, face: FaceBox) -> np.ndarray:
        """dlib's 5 landmarks of one detected face: 5 x 2 float32 (x, y) in image pixels — two
        corners of one eye, two of the other, the base of the nose."""
        shape = self._shape_of(np.ascontiguousarray(rgb), face)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)  # type: ignore[attr-defined]

    def embed(self, rgb: np.ndarray, face: FaceBox) -> np.ndarray:
        """L2-normalised 128-d float32 descriptor of one detected face."""
        img = np.ascontiguousarray(rgb)
        shape = self._shape_of(img, face)
        vec = np.asarray(self._net.compute_face_descriptor(img, shape), dtype=np.float32)
        norm = float(np.linalg.norm(vec)) or 1.0
        return vec / norm

    def faces(self, rgb: np.ndarray) -> list[tuple[FaceBox, np.ndarray]]:
        return [(b, self.embed(rgb, b)) for b in self.detect(rgb)]


_engine: FaceEngine | None = None


def engine(cnn: bool | None = None, detector: str | None = None) -> FaceEngine:
    """The process's face engine (models loaded on first use, in each worker; a caller loads it
    before the pool forks so workers share it).

    ``cnn`` (``Settings.face_cnn``, ``HAECHI_FACE_CNN=1``) adds dlib's CNN detector, which finds
    full-profile and harder faces at ~20x the cost (1.6 s per 640-px photo on this machine);
    ``None`` keeps the loaded engine, or loads the HOG-only one. ``detector``
    (``Settings.face_detector``, ``HAECHI_FACE_DETECTOR``): see :data:`FACE_DETECTORS`."""
    global _engine
    if (_engine is None or (cnn is not None and (_engine._cnn is not None) != cnn)
            or (detector is not None and _engine.detector != detector)):
        _engine = FaceEngine(cnn=bool(cnn if cnn is not None else _engine is not None and _engine._cnn is not None),
                             detector=detector or (_engine.detector if _engine is not None else "hog"))
    return _engine
