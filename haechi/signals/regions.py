"""Sub-images of a composite: album tiles, collage panels, the photo inside a phone screenshot.

Why (issue #20): a banked image shown as one tile of a chat album (about a quarter of its size) or
inside a screenshot of a chat is a small part of what is scanned; hashed whole, its PDQ is the
composite's, and its keypoints are a few among the UI's. Searched as a region at its own
resolution, it is an ordinary copy again.

How: recursive XY-cut on *uniform lines*. A row (or column) of a region is uniform when its grey
levels, after a 3×3 median filter (JPEG speckle), span at most ``UNIFORM_RANGE``: album gutters,
chat backgrounds, caption bars and letterboxes are uniform; a photo's rows rarely are (a plain
wall or sky is, which only adds a region). A region is trimmed of uniform margins, then split at
runs of uniform rows, or failing that of uniform columns, and each part cut again, to
``MAX_DEPTH``. The leaves that are neither the whole image nor slivers are the regions.

Limits: a region below ``MIN_REGION_SIDE`` pixels on its short side is not compared (a PDQ of a
40-px thumbnail is mostly its own resampling); it is reported as skipped with that reason. At most
``MAX_REGIONS`` regions (the largest) are searched per image; the rest are reported as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from haechi._lazy import cv2

#: regions are found on the image shrunk so its long side is at most this (pixels)
DETECT_SIDE = 512
UNIFORM_RANGE = 20
MAX_DEPTH = 5
#: smallest region compared (short side, original pixels), and the smallest one reported
#: as skipped (smaller parts are glyphs and icons of a UI, not pictures)
MIN_REGION_SIDE = 64
MIN_REPORTED_SIDE = 24
MAX_ASPECT = 5.0
#: a leaf covering this much of the image is the image itself (searched whole already)
MAX_AREA_SHARE = 0.8
MAX_REGIONS = 8


@dataclass(frozen=True)
class Region:
    """A rectangle of the original image: x, y, width, height (pixels)."""

    x: int
    y: int
    w: int
    h: int

    def box(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True)
class Regions:
    """The regions to search (largest first), and those skipped with the reason why."""

    found: list[Region]
    skipped: list[tuple[Region, str]]


def _uniform(gray: np.ndarray, axis: int) -> np.ndarray:
    """Per line along ``axis`` (1: rows, 0: columns): do its grey levels (of the median-filtered
    image) span at most ``UNIFORM_RANGE``?"""
    if gray.shape[axis] == 0:
        return np.zeros(gray.shape[1 - axis], bool)
    return np.asarray((gray.max(axis=axis).astype(np.int16) - gray.min(axis=axis)) <= UNIFORM_RANGE)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) of each run of False in ``flags`` (the content between gutters)."""
    out: list[tuple[int, int]] = []
    start = None
    for i, f in enumerate(flags.tolist()):
        if not f and start is None:
            start = i
        elif f and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(flags)))
    return out


def _cut(gray: np.ndarray, y0: int, y1: int, x0: int, x1: int, depth: int,
         leaves: list[tuple[int, int, int, int]], smallest: int) -> None:
    if min(y1 - y0, x1 - x0) < smallest:  # a glyph or an icon: neither searched nor reported
        return
    for _ in range(2):  # trim uniform margins (trimming rows changes which columns are uniform)
        rows = _uniform(gray[y0:y1, x0:x1], 1)
        kept = np.flatnonzero(~rows)
        if not kept.size:
            return
        y0, y1 = y0 + int(kept[0]), y0 + int(kept[-1]) + 1
        cols = _uniform(gray[y0:y1, x0:x1], 0)
        kept = np.flatnonzero(~cols)
        if not kept.size:
            return
        x0, x1 = x0 + int(kept[0]), x0 + int(kept[-1]) + 1
    if depth < MAX_DEPTH:
        bands = _runs(_uniform(gray[y0:y1, x0:x1], 1))
        if len(bands) > 1:
            for a, b in bands:
                _cut(gray, y0 + a, y0 + b, x0, x1, depth + 1, leaves, smallest)
            return
        bands = _runs(_uniform(gray[y0:y1, x0:x1], 0))
        if len(bands) > 1:
            for a, b in bands:
                _cut(gray, y0, y1, x0 + a, x0 + b, depth + 1, leaves, smallest)
            return
    leaves.append((x0, y0, x1 - x0, y1 - y0))


def find_regions(rgb: np.ndarray) -> Regions:
    """Panels and pictures inside ``rgb`` (H×W×3 uint8), in original pixels, largest first."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_REGION_SIDE:
        return Regions([], [])
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, DETECT_SIDE / max(height, width))
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    gray = cv2.medianBlur(gray, 3)  # JPEG speckle around a gutter is not content
    leaves: list[tuple[int, int, int, int]] = []
    _cut(gray, 0, gray.shape[0], 0, gray.shape[1], 0, leaves,
         max(2, int(MIN_REPORTED_SIDE * scale), int(0.05 * min(gray.shape))))
    found: list[Region] = []
    skipped: list[tuple[Region, str]] = []
    for x, y, w, h in leaves:
        region = Region(round(x / scale), round(y / scale), min(width, round(w / scale)),
                        min(height, round(h / scale)))
        short, long = min(region.w, region.h), max(region.w, region.h)
        if region.w * region.h >= MAX_AREA_SHARE * width * height or long > MAX_ASPECT * max(1, short):
            continue
        if short < MIN_REGION_SIDE:
            if short >= MIN_REPORTED_SIDE and region.w * region.h >= 0.01 * width * height:
                skipped.append((region, f"region {region.w}x{region.h} px is below the {MIN_REGION_SIDE}-px "
                                        "floor for comparison"))
            continue
        found.append(region)
    found.sort(key=lambda r: -r.w * r.h)
    for region in found[MAX_REGIONS:]:
        skipped.append((region, f"more than {MAX_REGIONS} regions in one image: only the largest are searched"))
    return Regions(found[:MAX_REGIONS], skipped)


def crop(rgb: np.ndarray, region: Region) -> np.ndarray:
    """The pixels of ``region`` (a view)."""
    return rgb[region.y:region.y + region.h, region.x:region.x + region.w]
