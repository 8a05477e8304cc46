"""Dense verification of a local-feature match: does the *content* agree, or only keypoints?

Why: ORB keypoints and a RANSAC similarity transform say that two images show the same
*structure*; a different shot of the same scene (a stereo pair, a burst, another photo of the
same person in the same pose) has that too — on the held-out suites 15 of 15 false matches were
such pairs, with 89–185 inliers, inside the range of true copies (issue #20). So a local match is
a ``copy`` only when the query, warped into the banked image's frame by the found transform,
agrees with the banked image cell by cell; otherwise it is a ``lead`` for a reviewer.

What is kept of a banked image for this: its *template*, the grey image at a quarter of the
640-px working size (at most 160 px on the long side), stored Fernet-encrypted beside its ORB
features and only for media the bank owner provided — never for hashes a victim submitted.

Measured (``tests/test_match_verdict.py``; photos_misc motorcycle stereo pair and the demo
transforms): normalised cross-correlation of 8×8 cells after a σ=1 px blur, 25th percentile over
the cells both images cover — true copies 0.98–1.00, the stereo pair 0.33–0.36. A copy needs
``COPY_P25`` over at least ``MIN_CELLS`` textured cells; smooth crops with fewer cells stay leads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from haechi.signals.local import WORK_SIDE

#: template side = working side / FACTOR
FACTOR = 4
CELL = 8
BLUR_SIGMA = 1.0
#: a cell counts only when both sides have texture (grey-level standard deviation)
MIN_CELL_STD = 3.0
MIN_CELLS = 12
COPY_P25 = 0.7
MAGIC = b"TPL1"


@dataclass(frozen=True)
class Agreement:
    """How well an aligned query agrees with a banked template: cells compared, their NCC's
    25th percentile and median (-1..1)."""

    cells: int
    p25: float
    median: float

    @property
    def is_copy(self) -> bool:
        return self.cells >= MIN_CELLS and self.p25 >= COPY_P25


def _working_gray(rgb: np.ndarray) -> np.ndarray:
    """The grey image at ORB's working size (as ``signals.local.orb_features`` computes it)."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = WORK_SIDE / max(h, w)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return gray


def _shrink(gray: np.ndarray) -> np.ndarray:
    import cv2

    h, w = gray.shape
    return cv2.resize(gray, (max(1, round(w / FACTOR)), max(1, round(h / FACTOR))), interpolation=cv2.INTER_AREA)


def make_template(rgb: np.ndarray) -> np.ndarray:
    """The template of a banked image: uint8 grey, (h, w) at most 160 px on the long side."""
    return _shrink(_working_gray(rgb))


def aligned_query(rgb: np.ndarray, matrix: tuple[float, ...], bank_width: int, bank_height: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The query warped into the banked image's working frame by ``matrix`` (2×3, query working
    frame → bank working frame) and shrunk to template size; with the mask of what it covers."""
    import cv2

    m = np.asarray(matrix, np.float64).reshape(2, 3)
    gray = _working_gray(rgb)
    size = (max(1, bank_width), max(1, bank_height))
    warped = cv2.warpAffine(gray, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(np.full(gray.shape, 255, np.uint8), m, size, flags=cv2.INTER_NEAREST, borderValue=0)
    return _shrink(warped), _shrink(mask) > 250


def agreement(aligned: np.ndarray, mask: np.ndarray, template: np.ndarray) -> Agreement:
    """Cell-wise normalised cross-correlation of an aligned query and a template."""
    import cv2

    h = min(aligned.shape[0], template.shape[0])
    w = min(aligned.shape[1], template.shape[1])
    a = cv2.GaussianBlur(aligned[:h, :w].astype(np.float32), (0, 0), BLUR_SIGMA)
    b = cv2.GaussianBlur(template[:h, :w].astype(np.float32), (0, 0), BLUR_SIGMA)
    m = mask[:h, :w]
    scores = []
    for y in range(0, h - CELL + 1, CELL):
        for x in range(0, w - CELL + 1, CELL):
            if not m[y:y + CELL, x:x + CELL].all():
                continue
            p, q = a[y:y + CELL, x:x + CELL], b[y:y + CELL, x:x + CELL]
            if p.std() < MIN_CELL_STD or q.std() < MIN_CELL_STD:
                continue
            p, q = p - p.mean(), q - q.mean()
            scores.append(float((p * q).sum() / np.sqrt((p * p).sum() * (q * q).sum())))
    if not scores:
        return Agreement(0, -1.0, -1.0)
    arr = np.array(scores)
    return Agreement(len(scores), float(np.percentile(arr, 25)), float(np.median(arr)))


def pack(template: np.ndarray) -> bytes:
    """Bytes appended after a :class:`~haechi.signals.local.LocalFeatures` blob."""
    h, w = template.shape
    return MAGIC + struct.pack(">HH", h, w) + np.ascontiguousarray(template, np.uint8).tobytes()


def unpack_after_features(blob: bytes) -> np.ndarray | None:
    """The template stored after the features in ``blob`` (None: banked before templates)."""
    n = int(np.frombuffer(blob[:4], dtype=np.int32)[0]) if len(blob) >= 12 else 0
    start = 12 + n * 8 + n * 32
    if blob[start:start + 4] != MAGIC:
        return None
    h, w = struct.unpack(">HH", blob[start + 4:start + 8])
    data = np.frombuffer(blob[start + 8:start + 8 + h * w], dtype=np.uint8)
    return data.reshape(h, w) if data.size == h * w else None
