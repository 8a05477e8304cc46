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
the cells both images cover — true copies 0.94–1.00, the whole stereo pair 0.33–0.36. A copy needs
``COPY_P25`` over at least ``MIN_CELLS`` textured cells; smooth crops with fewer cells stay leads.

Two refinements (issue #20, second round):

- *Overlaid text* (meme text, stickers) covers cells, which then disagree although the image is a
  copy: cells where the query shows overlay strokes (near-white/near-black with the opposite
  extreme next to them) and far more edges than the template are left out.
- *Parallax*: a 40–55% crop of the right stereo view passed p25 (0.74–0.93) against the left view
  — on a small overlap the far field is nearly the same pixels. What differs is that near objects
  are *displaced*: their cells agree better moved by 1–2 template pixels, and blocks' phase
  correlation shows a shift. Those signs together make a lead (``Agreement.parallax``).
  Limit: at template scale (160 px) parallax under ~0.25 px is invisible; held-out crops still
  give copies at about 1 in 12 (README "Matching").

The check runs in the scanning worker (the template is held by the local index, loaded with the
features), so only its numbers travel back to the parent.
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
#: overlaid text and graphics (meme text, stickers): a query pixel is an overlay stroke when it is
#: near-white or near-black with the opposite extreme close by (white letters, black outline); a
#: cell is excluded when ``OVERLAY_SHARE`` of it is strokes *and* the query has ``OVERLAY_EDGES``×
#: the template's edge energy there (the banked image has no such edges: the text was added)
OVERLAY_SHARE = 0.1
OVERLAY_EDGES = 2.0
#: parallax (a different viewpoint: stereo pair, burst, step aside): the far field of a small
#: overlap is nearly the same pixels, only near objects move. Three signs together make a lead:
#: agreement below what copies give (p25 < ``PARALLAX_P25``), at least ``PARALLAX_DISPLACED`` of
#: the cells agree better moved by 1–2 template pixels than in place (displaced structure), and
#: the 90th percentile of block shifts (phase correlation, ``BLOCK`` px blocks) is at least
#: ``PARALLAX_SHIFT`` template pixels. Measured (2026-11-30, photos_misc + demo families, see
#: tests/test_match_verdict.py): crops of the right stereo view that passed p25 had p25 0.79–0.93,
#: displaced 0.08–0.21, shift 0.31–0.62; true copies with shift >= 0.25 (screenshots, album tiles,
#: blur) had displaced <= 0.07 or p25 >= 0.95, crops with displaced >= 0.08 had shift <= 0.14.
PARALLAX_P25 = 0.95
PARALLAX_DISPLACED = 0.06
PARALLAX_SHIFT = 0.25
SHIFT = 2
BLOCK = 24
MAGIC = b"TPL1"


@dataclass(frozen=True)
class Agreement:
    """How well an aligned query agrees with a banked template: cells compared (overlay cells
    left out), their NCC's 25th percentile and median (-1..1), cells left out as overlaid text,
    the share of compared cells that agree better displaced (0..1), and the 90th percentile of
    block shifts (template pixels)."""

    cells: int
    p25: float
    median: float
    overlay: int = 0
    displaced: float = 0.0
    shift: float = 0.0

    @property
    def parallax(self) -> bool:
        return self.p25 < PARALLAX_P25 and self.displaced >= PARALLAX_DISPLACED and self.shift >= PARALLAX_SHIFT

    @property
    def is_copy(self) -> bool:
        return self.cells >= MIN_CELLS and self.p25 >= COPY_P25 and not self.parallax


@dataclass(frozen=True)
class Aligned:
    """A query warped into a banked image's frame at template size: grey pixels (uint8), the mask
    of what it covers (bool), and the share of overlay-stroke pixels per pixel (float32 0..1)."""

    image: np.ndarray
    mask: np.ndarray
    overlay: np.ndarray


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


def overlay_strokes(gray: np.ndarray) -> np.ndarray:
    """Overlay-stroke pixels of a grey image (uint8 0/255): near-white (>= 235) or near-black
    (<= 25) with a grey-level range of at least 150 within 5×5 — white letters with a black
    outline, black text on a light box, stickers' outlines."""
    import cv2

    kernel = np.ones((5, 5), np.uint8)
    contrast = cv2.dilate(gray, kernel).astype(np.int16) - cv2.erode(gray, kernel)
    return (((gray >= 235) | (gray <= 25)) & (contrast >= 150)).astype(np.uint8) * 255


def aligned_query(rgb: np.ndarray, matrix: tuple[float, ...], bank_width: int, bank_height: int) -> Aligned:
    """The query warped into the banked image's working frame by ``matrix`` (2×3, query working
    frame → bank working frame) and shrunk to template size, with its mask and overlay strokes."""
    import cv2

    m = np.asarray(matrix, np.float64).reshape(2, 3)
    gray = _working_gray(rgb)
    size = (max(1, bank_width), max(1, bank_height))
    warped = cv2.warpAffine(gray, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(np.full(gray.shape, 255, np.uint8), m, size, flags=cv2.INTER_NEAREST, borderValue=0)
    strokes = cv2.warpAffine(overlay_strokes(gray), m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return Aligned(_shrink(warped), _shrink(mask) > 250, _shrink(strokes).astype(np.float32) / 255)


def _cells(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows, cols, CELL*CELL) view of the cells of ``x``."""
    return x[:rows * CELL, :cols * CELL].reshape(rows, CELL, cols, CELL).transpose(0, 2, 1, 3).reshape(
        rows, cols, CELL * CELL)


def _ncc(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = p - p.mean(-1, keepdims=True)
    q = q - q.mean(-1, keepdims=True)
    d = np.sqrt((p * p).sum(-1) * (q * q).sum(-1))
    return np.where(d > 0, (p * q).sum(-1) / np.maximum(d, 1e-9), -1.0)


def _edges(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    import cv2

    return _cells(np.hypot(cv2.Sobel(x, cv2.CV_32F, 1, 0), cv2.Sobel(x, cv2.CV_32F, 0, 1)), rows, cols).mean(-1)


def _block_shift(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> float:
    """90th percentile of the sub-pixel shifts (phase correlation) of half-overlapping
    ``BLOCK``-px blocks that are covered, textured and clear of overlay (``keep``)."""
    import cv2

    window = cv2.createHanningWindow((BLOCK, BLOCK), cv2.CV_32F)
    shifts = []
    for y in range(0, a.shape[0] - BLOCK + 1, BLOCK // 2):
        for x in range(0, a.shape[1] - BLOCK + 1, BLOCK // 2):
            if not keep[y:y + BLOCK, x:x + BLOCK].all():
                continue
            p, q = a[y:y + BLOCK, x:x + BLOCK], b[y:y + BLOCK, x:x + BLOCK]
            if p.std() < 2 * MIN_CELL_STD or q.std() < 2 * MIN_CELL_STD:
                continue
            (dx, dy), response = cv2.phaseCorrelate(q, p, window)
            if response > 0.2:
                shifts.append(float(np.hypot(dx, dy)))
    return float(np.percentile(shifts, 90)) if len(shifts) >= 3 else 0.0


def agreement(aligned: Aligned, template: np.ndarray) -> Agreement:
    """Cell-wise normalised cross-correlation of an aligned query and a template (after a
    ``BLUR_SIGMA`` blur), cells covered by overlaid text left out, with the signs of parallax."""
    import cv2

    h = min(aligned.image.shape[0], template.shape[0])
    w = min(aligned.image.shape[1], template.shape[1])
    rows, cols = h // CELL, w // CELL
    if not rows or not cols:
        return Agreement(0, -1.0, -1.0)
    a = cv2.GaussianBlur(aligned.image[:h, :w].astype(np.float32), (0, 0), BLUR_SIGMA)
    b = cv2.GaussianBlur(template[:h, :w].astype(np.float32), (0, 0), BLUR_SIGMA)
    m = aligned.mask[:h, :w]
    ac, bc = _cells(a, rows, cols), _cells(b, rows, cols)
    covered = _cells(m.astype(np.uint8), rows, cols).all(-1)
    valid = covered & (ac.std(-1) >= MIN_CELL_STD) & (bc.std(-1) >= MIN_CELL_STD)
    overlay = (_cells(aligned.overlay[:h, :w], rows, cols).mean(-1) >= OVERLAY_SHARE) & (
        _edges(a, rows, cols) > OVERLAY_EDGES * _edges(b, rows, cols))
    kept = valid & ~overlay
    if not kept.any():
        return Agreement(0, -1.0, -1.0, int((valid & overlay).sum()))
    # NCC in place and with the query moved by up to SHIFT pixels
    padded_a, padded_m = np.pad(a, SHIFT, mode="edge"), np.pad(m, SHIFT)
    in_place = _ncc(ac, bc)
    best_moved = np.full(in_place.shape, -1.0)
    for dy in range(-SHIFT, SHIFT + 1):
        for dx in range(-SHIFT, SHIFT + 1):
            if dx == 0 and dy == 0:
                continue
            window = (slice(SHIFT + dy, SHIFT + dy + h), slice(SHIFT + dx, SHIFT + dx + w))
            ok = _cells(padded_m[window].astype(np.uint8), rows, cols).all(-1)
            score = np.where(ok, _ncc(_cells(padded_a[window], rows, cols), bc), -1.0)
            best_moved = np.maximum(best_moved, score)
    displaced = (best_moved - in_place > 0.1) & (best_moved >= 0.7)
    scores = in_place[kept]
    keep_px = np.repeat(np.repeat(covered & ~overlay, CELL, 0), CELL, 1)
    shift = _block_shift(a[:rows * CELL, :cols * CELL], b[:rows * CELL, :cols * CELL], keep_px)
    return Agreement(int(kept.sum()), float(np.percentile(scores, 25)), float(np.median(scores)),
                     int((valid & overlay).sum()), float(displaced[kept].mean()), shift)


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
