"""Trim uniform borders (letterboxes, padding, frames) before hashing.

A bordered copy hashes far from its original under PDQ; trimming the border first brings it
back. Trimming is conservative: a side is only removed while whole rows/columns stay within a
small tolerance of one colour, and never below a fifth of the image.
"""

from __future__ import annotations

import numpy as np

#: max per-pixel deviation (0-255 luma) for a row/column to count as border (JPEG noise)
TOLERANCE = 14.0
MIN_KEEP_FRACTION = 0.2


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _uniform_prefix(lines: np.ndarray, colour: float) -> int:
    """Number of leading lines (rows of ``lines``) whose every pixel is near ``colour``."""
    deviation = np.abs(lines - colour)
    # allow a tiny fraction of outliers per line (compression ringing, 1px lines)
    bad = (deviation > TOLERANCE).mean(axis=1) > 0.02
    idx = np.flatnonzero(bad)
    return int(idx[0]) if idx.size else lines.shape[0]


def trim_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Return (top, bottom, left, right) of the content inside uniform borders, or None."""
    h, w = rgb.shape[:2]
    if h < 16 or w < 16:
        return None
    y = _luma(rgb.astype(np.float32))
    top = _uniform_prefix(y, float(np.median(y[0])))
    bottom = h - _uniform_prefix(y[::-1], float(np.median(y[-1])))
    left = _uniform_prefix(y.T, float(np.median(y[:, 0])))
    right = w - _uniform_prefix(y.T[::-1], float(np.median(y[:, -1])))
    if top == 0 and left == 0 and bottom == h and right == w:
        return None
    if bottom - top < MIN_KEEP_FRACTION * h or right - left < MIN_KEEP_FRACTION * w:
        return None
    # a border of one or two pixels is noise, not a frame
    if max(top, h - bottom, left, w - right) < max(3, int(0.01 * max(h, w))):
        return None
    return top, bottom, left, right


def trim_borders(rgb: np.ndarray) -> np.ndarray | None:
    """The image without its uniform borders, or None when it has none worth trimming."""
    box = trim_box(rgb)
    if box is None:
        return None
    top, bottom, left, right = box
    return np.ascontiguousarray(rgb[top:bottom, left:right])
