"""Face crops and self-blended images (SBI) for the learned face-manipulation detector.

Why self-blended images (Shiohara & Yamasaki, CVPR 2022): a face swap or reenactment leaves a
blending boundary and a colour/sharpness mismatch between the pasted face and its surround. SBI
makes such pseudo-fakes from one real photo — two differently augmented copies of the same face,
one slightly shifted, pasted into the other through a deformed, blurred landmark-hull mask — so
the detector learns the generic artefacts of blending, and no deepfake data (which is scarce and
research-licensed) is needed to train it.

This module has no torch dependency: the detector uses :func:`face_crops` at inference (the same
crop the model was trained on), and ``scripts/train_sbi.py`` uses :func:`self_blend`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

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
    landmarks: np.ndarray  # 68 x 2 float32, in context coordinates
    box: list[int]  # face box [x, y, w, h] in the source image


def split_of(name: str) -> str:
    """The training script's split of a source photo (``folder/file``): 70% train, 15%
    calibration, 15% test — stable, so tests can pick faces the model never saw."""
    v = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
    return "train" if v < 70 else "calib" if v < 85 else "test"


_predictor: Any = None


def _landmark_predictor() -> Any:
    global _predictor
    if _predictor is None:
        import dlib

        from haechi.signals.faces import model_path

        _predictor = dlib.shape_predictor(model_path("shape_predictor_68_face_landmarks.dat"))
    return _predictor


def face_contexts(rgb: np.ndarray, max_faces: int = 8) -> list[FaceContext]:
    """Each detected face (largest first) as a :class:`FaceContext`.

    The square face region is centred on the 68 landmarks' box, widened up for the forehead,
    so a face found by any detector gives the same crop as in training."""
    import dlib

    from haechi.signals.faces import engine

    out = []
    for face in engine().detect(rgb)[:max_faces]:
        rect = dlib.rectangle(face.x, face.y, face.x + face.w, face.y + face.h)
        shape = _landmark_predictor()(np.ascontiguousarray(rgb), rect)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        w, h = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.12 * h  # landmarks start at the brows
        side = 1.3 * max(w, h * 1.2)
        big = 2 * side  # context: twice the face crop
        m = cv2.getAffineTransform(
            _pts([[cx - big / 2, cy - big / 2], [cx + big / 2, cy - big / 2], [cx - big / 2, cy + big / 2]]),
            _pts([[0, 0], [CONTEXT, 0], [0, CONTEXT]]))
        ctx = cv2.warpAffine(rgb, m, (CONTEXT, CONTEXT), flags=cv2.INTER_AREA if big > CONTEXT else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        lm = (np.c_[pts, np.ones(len(pts), np.float32)] @ m.T).astype(np.float32)
        out.append(FaceContext(ctx, lm, face.box()))
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


def _mask(landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pts = landmarks.copy()
    if rng.random() < 0.5:  # inner face only (brows, eyes, nose, mouth), as face swaps often are
        pts = pts[17:]
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
    m = (_mask(face.landmarks, rng) * ratio)[..., None]
    fake = np.clip(source.astype(np.float32) * m + target.astype(np.float32) * (1 - m), 0, 255).astype(np.uint8)
    return target, fake


def to_input(crops: list[np.ndarray]) -> np.ndarray:
    """N x 3 x CROP x CROP float32 in [-1, 1], the model's input layout."""
    arr = np.stack(crops).astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
