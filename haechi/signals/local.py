"""Local binary features (ORB) for copies that PDQ cannot see: crops, borders, screenshots,
captions and small rotations.

ORB descriptors are 256-bit binary strings, the same shape as PDQ, so they live in the same
kind of Hamming index. A match is only accepted after geometric verification (RANSAC on a
similarity transform) — that is what keeps unrelated photos from matching.

This signal needs the media itself, so it exists only for media a bank owner provided; it is
stored encrypted because dense local features say more about an image than a PDQ hash does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# OpenCV is imported on first use, single-threaded (a thread pool started before a fork
# deadlocks the forked scan workers): see haechi._lazy
from haechi._lazy import cv2

#: images are resized so their longer side is this many pixels before feature extraction
WORK_SIDE = 640
BANK_FEATURES = 700
QUERY_FEATURES = 1500
#: below this short side an image has no ORB keypoints at all (a keypoint needs a 31-pixel patch
#: plus the 15-pixel edge margin), and OpenCV's pyramid asserts on 1- and 2-pixel sides: 1x1
#: tracking pixels and 600x1 spacers get empty features instead of a cv2.error that aborts a batch
MIN_SIDE = 32


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints (x, y in the resized frame), their 32-byte ORB descriptors, and the frame size."""

    points: np.ndarray  # float32 (n, 2)
    descriptors: np.ndarray  # uint8 (n, 32)
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    def to_bytes(self) -> bytes:
        header = np.array([len(self), self.width, self.height], dtype=np.int32).tobytes()
        return header + self.points.astype(np.float32).tobytes() + self.descriptors.tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LocalFeatures:
        n, width, height = (int(v) for v in np.frombuffer(blob[:12], dtype=np.int32))
        pts_end = 12 + n * 8
        points = np.frombuffer(blob[12:pts_end], dtype=np.float32).reshape(n, 2)
        desc = np.frombuffer(blob[pts_end : pts_end + n * 32], dtype=np.uint8).reshape(n, 32)
        return cls(points=points, descriptors=desc, width=width, height=height)


#: FAST corner threshold (grey levels); smooth, low-texture images (skin) give few corners at it:
#: when fewer than ``LOW_TEXTURE_KEYPOINTS`` are found, they are detected again at
#: ``LOW_TEXTURE_FAST`` (measured on generated skin-like scenes: 15–60 keypoints at 12, ~550 at 2;
#: a 45% crop re-found 16–29 inliers instead of 5–18; SIFT found 4–15 keypoints there at 15× the
#: time, so it is not used)
FAST_THRESHOLD = 12
LOW_TEXTURE_FAST = 2
LOW_TEXTURE_KEYPOINTS = 300
#: keypoints are spread over a GRID×GRID grid of cells (each cell keeps its strongest share
#: first), so big overlaid text, whose high-contrast corners are the strongest, cannot take the
#: whole budget (issue #20: meme text); detected OVERSAMPLE× the budget to choose from
GRID = 6
OVERSAMPLE = 3

_orb_cache: dict[tuple[int, int], cv2.ORB] = {}


def _orb(nfeatures: int, fast: int = FAST_THRESHOLD) -> cv2.ORB:
    if (nfeatures, fast) not in _orb_cache:
        _orb_cache[nfeatures, fast] = cv2.ORB.create(nfeatures=nfeatures, fastThreshold=fast, edgeThreshold=15,
                                                     patchSize=31, nlevels=8, scaleFactor=1.25)
    return _orb_cache[nfeatures, fast]


def spread_keypoints(keypoints: list[cv2.KeyPoint], budget: int, width: int, height: int,
                     grid: int = GRID) -> list[cv2.KeyPoint]:
    """At most ``budget`` keypoints, spread over a ``grid``×``grid`` grid of the frame: round by
    round every cell gives its next strongest keypoint, so a cell full of text corners holds no
    more than the others while they have keypoints left."""
    if len(keypoints) <= budget:
        return list(keypoints)
    pts = np.array([kp.pt for kp in keypoints], np.float32)
    response = np.array([kp.response for kp in keypoints], np.float32)
    cx = np.minimum(grid - 1, (pts[:, 0] * grid / max(1, width)).astype(np.int64))
    cy = np.minimum(grid - 1, (pts[:, 1] * grid / max(1, height)).astype(np.int64))
    cell = cy * grid + cx
    order = np.lexsort((-response, cell))  # by cell, strongest first within a cell
    first = np.searchsorted(cell[order], np.arange(grid * grid))
    rank = np.empty(len(keypoints), np.int64)
    rank[order] = np.arange(len(keypoints)) - first[cell[order]]
    # round by round (rank within the cell), strongest first within a round
    chosen = np.lexsort((-response, rank))[:budget]
    return [keypoints[i] for i in chosen.tolist()]


def orb_features(rgb: np.ndarray, nfeatures: int = BANK_FEATURES, spread: bool = False) -> LocalFeatures:
    """ORB keypoints and descriptors of an RGB image, computed at a fixed working size (long side
    ``WORK_SIDE``; smaller images at their own size). Low-texture images are detected again at a
    lower corner threshold. ``spread``: keypoints spread over the frame (:func:`spread_keypoints`)."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = WORK_SIDE / max(h, w)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    if min(gray.shape) < MIN_SIDE:  # also a 6000x40 banner, which the resize makes 640x4
        return _empty(gray.shape[1], gray.shape[0])
    detect = nfeatures * OVERSAMPLE if spread else nfeatures
    keypoints = _orb(detect).detect(gray, None)
    if len(keypoints) < min(LOW_TEXTURE_KEYPOINTS, nfeatures):
        keypoints = _orb(detect, LOW_TEXTURE_FAST).detect(gray, None)
    if spread:
        keypoints = spread_keypoints(list(keypoints), nfeatures, gray.shape[1], gray.shape[0])
    if not keypoints:
        return _empty(gray.shape[1], gray.shape[0])
    keypoints, descriptors = _orb(nfeatures).compute(gray, keypoints)
    if descriptors is None or not keypoints:
        return _empty(gray.shape[1], gray.shape[0])
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32)
    return LocalFeatures(points, np.ascontiguousarray(descriptors, dtype=np.uint8),
                         gray.shape[1], gray.shape[0])


def _empty(width: int, height: int) -> LocalFeatures:
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), width, height)
