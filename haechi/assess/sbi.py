"""Face crops and self-blended images (SBI) for the learned face-manipulation detector.

Why self-blended images (Shiohara & Yamasaki, CVPR 2022): a face swap or reenactment leaves a
blending boundary and a colour/sharpness mismatch between the pasted face and its surround. SBI
makes such pseudo-fakes from one real photo — two differently augmented copies of the same face,
one slightly shifted, pasted into the other through a deformed, blurred face-hull mask — so
the detector learns the generic artefacts of blending, and no deepfake data (which is scarce and
research-licensed) is needed to train it.

Landmarks: dlib's 5-point model (eye corners and the base of the nose; trained on dlib's own
5-point dataset, released into the public domain by Davis King), the one face embedding already
uses. The 68-point model that SBI papers use is trained on iBUG 300-W, whose licence excludes
commercial use, so it is not used. The face hull the mask needs is an ellipse in the face's own
frame (eye line and the eye-to-nose direction), its extent in interocular distances fitted to the
68-point jaw-and-brow hull on the photos in ../shared/data (mean IoU 0.82; inner face 0.78).

This module has no torch dependency: the detector uses :func:`face_crops` at inference (the same
crop the model was trained on), and ``scripts/train_sbi.py`` uses :func:`self_blend`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from haechi._lazy import cv2  # single-threaded, imported on first use (see haechi._lazy)

#: side of the model's input crop
CROP = 128
#: side of the context crop that blending happens in (the face box is the middle half)
CONTEXT = 256


@dataclass(frozen=True)
class FaceContext:
    """A face with its surround, scaled so the face crop is the middle CONTEXT/2 pixels."""

    rgb: np.ndarray  # CONTEXT x CONTEXT x 3 uint8
    hull: np.ndarray  # K x 2 float32, the whole face (brows to chin), in context coordinates
    inner: np.ndarray  # K x 2 float32, brows, eyes, nose and mouth only, in context coordinates
    box: list[int]  # face box [x, y, w, h] in the source image


def split_of(name: str) -> str:
    """The training script's split of a source photo (``folder/file``): 70% train, 15%
    calibration, 15% test — stable, so tests can pick faces the model never saw."""
    v = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
    return "train" if v < 70 else "calib" if v < 85 else "test"


#: the face hull in interocular distances (eye centre to eye centre) along the eye line (half
#: width) and down from it (top, bottom): fitted to dlib's 68-point hull, see the module docstring
FACE_ELLIPSE = (1.15, -0.5, 1.8)
INNER_ELLIPSE = (0.8, -0.5, 1.2)
#: the interocular distance is taken as at least this share of the detector's box width (a turned
#: face's eyes are close together in the image, while its face is not narrower in proportion)
MIN_EYES_PER_BOX = 0.38


def face_ellipse(points: np.ndarray, box_w: float, shape: tuple[float, float, float] = FACE_ELLIPSE,
                 n: int = 48) -> np.ndarray:
    """An ``n`` x 2 float32 polygon around the face from dlib's 5 points (``points``: 5 x 2, two
    corners of one eye, two of the other, the base of the nose; any image coordinates) and the
    detector's box width in the same units. ``shape`` = (half width, top, bottom) in interocular
    distances, in the face's frame: x along the eye line, y from the eye line towards the nose."""
    pts = np.asarray(points, np.float64).reshape(5, 2)
    e1, e2 = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    mid = (e1 + e2) / 2
    d = float(np.linalg.norm(e2 - e1))
    ex = (e2 - e1) / d if d > 1e-6 else np.array([1.0, 0.0])
    if ex[0] < 0:
        ex = -ex
    ey = np.array([-ex[1], ex[0]])
    if float((pts[4] - mid) @ ey) < 0:  # y points from the eyes to the nose (upside-down faces too)
        ey = -ey
    d = max(d, MIN_EYES_PER_BOX * float(box_w))
    half, top, bottom = shape
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    along = np.cos(t) * half * d
    down = ((top + bottom) / 2 + np.sin(t) * (bottom - top) / 2) * d
    return (mid + np.outer(along, ex) + np.outer(down, ey)).astype(np.float32)


def face_contexts(rgb: np.ndarray, max_faces: int = 8) -> list[FaceContext]:
    """Each detected face (largest first) as a :class:`FaceContext`.

    The square face region is centred on the face hull's box (from the 5 landmarks), widened up
    for the forehead, so a face found by any detector gives the same crop as in training."""
    from haechi.signals.faces import engine

    eng = engine()
    out = []
    for face in eng.detect(rgb)[:max_faces]:
        pts = eng.landmarks(rgb, face)
        hull = face_ellipse(pts, face.w)
        x0, y0 = hull.min(axis=0)
        x1, y1 = hull.max(axis=0)
        w, h = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.12 * h  # the hull starts at the brows
        side = 1.3 * max(w, h * 1.2)
        big = 2 * side  # context: twice the face crop
        m = cv2.getAffineTransform(
            _pts([[cx - big / 2, cy - big / 2], [cx + big / 2, cy - big / 2], [cx - big / 2, cy + big / 2]]),
            _pts([[0, 0], [CONTEXT, 0], [0, CONTEXT]]))
        ctx = cv2.warpAffine(rgb, m, (CONTEXT, CONTEXT), flags=cv2.INTER_AREA if big > CONTEXT else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)

        def to_ctx(poly: np.ndarray, m: np.ndarray = m) -> np.ndarray:
            return (np.c_[poly, np.ones(len(poly), np.float32)] @ m.T).astype(np.float32)

        out.append(FaceContext(ctx, to_ctx(hull), to_ctx(face_ellipse(pts, face.w, INNER_ELLIPSE)), face.box()))
    return out


def centre_crop(ctx: np.ndarray, jitter: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """The model input: the middle half of a context image, optionally shifted (dx, dy as a
    share of the crop) and scaled, resized to CROP x CROP."""
    dx, dy, scale = jitter
    side = CONTEXT / 2 * scale
    cx, cy = CONTEXT / 2 + dx * side, CONTEXT / 2 + dy * side
    m = cv2.getAffineTransform(
        _pts([[cx - side / 2, cy - side / 2], [cx + side / 2, cy - side / 2], [cx - side / 2, cy + side / 2]]),
        _pts([[0, 0], [CROP, 0], [0, CROP]]))
    return cv2.warpAffine(ctx, m, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _pts(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def _colour_transform(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    out += rng.uniform(-20, 20, size=3)  # RGB shift
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-3, 3)) % 180
    hsv[..., 1] *= rng.uniform(0.8, 1.2)
    hsv[..., 2] *= rng.uniform(0.85, 1.15)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = (out - 128) * rng.uniform(0.85, 1.15) + 128 + rng.uniform(-12, 12)  # contrast, brightness
    return np.clip(out, 0, 255).astype(np.uint8)


def _frequency_transform(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:  # resolution loss: down and up again
        f = rng.uniform(0.35, 0.8)
        small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return cv2.resize(small, img.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    blur = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 1.5))  # sharpen (unsharp mask)
    return np.clip(img.astype(np.float32) * 1.6 - blur.astype(np.float32) * 0.6, 0, 255).astype(np.uint8)


def _mask(face: FaceContext, rng: np.random.Generator) -> np.ndarray:
    # half the time the inner face only (brows, eyes, nose, mouth), as face swaps often are
    pts = face.inner if rng.random() < 0.5 else face.hull
    hull = cv2.convexHull(pts.astype(np.int32))
    mask: np.ndarray = np.zeros((CONTEXT, CONTEXT), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    # deform: random elastic-ish warp of the hull, then erode/dilate and blur the edge
    grid = rng.normal(0, 3.0, size=(5, 5, 2)).astype(np.float32)
    flow = cv2.resize(grid, (CONTEXT, CONTEXT), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:CONTEXT, 0:CONTEXT].astype(np.float32)
    mask = cv2.remap(mask, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR)
    k = int(rng.integers(1, 12))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = rng.uniform(2, 9)
    m = np.asarray(cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma), dtype=np.float32)
    return m / max(float(m.max()), 1e-6)


def self_blend(face: FaceContext, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) context images: the fake is the face blended into a differently augmented
    copy of itself; the real one is that copy (the target), as in the SBI reference code, so the
    pair differs only by the blend, never by a global colour change."""
    target = face.rgb
    source = face.rgb
    if rng.random() < 0.5:
        source = _colour_transform(source, rng)
    else:
        target = _colour_transform(target, rng)
    if rng.random() < 0.5:
        source = _frequency_transform(source, rng)
    else:
        target = _frequency_transform(target, rng)
    # shift and scale the source a little, as a face pasted by a swap never lines up exactly
    s = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03, size=2) * CONTEXT
    c = CONTEXT / 2
    affine = _pts([[s, 0.0, (1 - s) * c + tx], [0.0, s, (1 - s) * c + ty]])
    source = cv2.warpAffine(source, affine, (CONTEXT, CONTEXT), borderMode=cv2.BORDER_REFLECT)
    ratio = float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]))
    m = (_mask(face, rng) * ratio)[..., None]
    fake = np.clip(source.astype(np.float32) * m + target.astype(np.float32) * (1 - m), 0, 255).astype(np.uint8)
    return target, fake


def to_input(crops: list[np.ndarray]) -> np.ndarray:
    """N x 3 x CROP x CROP float32 in [-1, 1], the model's input layout."""
    arr = np.stack(crops).astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
