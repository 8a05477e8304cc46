"""Local-feature matching: nearest descriptors (faiss binary index), ratio test, then RANSAC.

A candidate bank image is accepted only when a similarity transform (scale, rotation,
translation) explains enough matched keypoints: unrelated photos share a few descriptors by
chance, never a geometrically consistent set of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import faiss
import numpy as np

from haechi.signals.local import LocalFeatures

RATIO = 0.8
MAX_DESCRIPTOR_DISTANCE = 64
MIN_CANDIDATE_MATCHES = 10
MIN_INLIERS = 14
MIN_INLIER_RATIO = 0.25
REPROJECTION_PX = 6.0
SCALE_RANGE = (0.15, 6.0)


@dataclass(frozen=True)
class LocalHit:
    label: int
    inliers: int
    matches: int
    distance: int  # median Hamming distance (of 256 bits) of the inlier descriptor pairs
    rotation_deg: float
    scale: float


class LocalIndex:
    """All descriptors of a set of bank images in one exact binary index."""

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(256)
        self._owner = np.zeros(0, np.int64)
        self._points = np.zeros((0, 2), np.float32)

    def add(self, label: int, features: LocalFeatures) -> None:
        if len(features) == 0:
            return
        self._index.add(np.ascontiguousarray(features.descriptors))
        self._owner = np.concatenate([self._owner, np.full(len(features), label, np.int64)])
        self._points = np.concatenate([self._points, features.points.astype(np.float32)])

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: LocalFeatures) -> list[LocalHit]:
        if len(self) < 2 or len(query) < MIN_CANDIDATE_MATCHES:
            return []
        distances, neighbours = self._index.search(np.ascontiguousarray(query.descriptors), 2)
        d1, d2 = distances[:, 0], distances[:, 1]
        n1 = neighbours[:, 0]
        same_owner = self._owner[n1] == self._owner[neighbours[:, 1]]
        # ratio test only against a *different* image: two near-identical keypoints of the same
        # bank image should not cancel each other out
        good = (d1 <= MAX_DESCRIPTOR_DISTANCE) & ((d1 < RATIO * d2) | same_owner) & (n1 >= 0)
        if not good.any():
            return []
        q_idx = np.flatnonzero(good)
        owners = self._owner[n1[q_idx]]
        hits: list[LocalHit] = []
        for label in np.unique(owners):
            sel = q_idx[owners == label]
            if sel.size < MIN_CANDIDATE_MATCHES:
                continue
            hit = self._verify(int(label), query, sel, n1[sel], d1[sel])
            if hit is not None:
                hits.append(hit)
        hits.sort(key=lambda h: -h.inliers)
        return hits

    def _verify(self, label: int, query: LocalFeatures, q_sel: np.ndarray, b_sel: np.ndarray,
                dist: np.ndarray) -> LocalHit | None:
        src = query.points[q_sel].reshape(-1, 1, 2)
        dst = self._points[b_sel].reshape(-1, 1, 2)
        matrix, mask = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PX, maxIters=2000,
            confidence=0.995)
        if matrix is None or mask is None:
            return None
        inlier_mask = mask.ravel().astype(bool)
        inliers = int(inlier_mask.sum())
        if inliers < MIN_INLIERS or inliers < MIN_INLIER_RATIO * len(q_sel):
            return None
        # distinct bank keypoints: many query points landing on one bank point is degenerate
        if np.unique(b_sel[inlier_mask]).size < MIN_INLIERS:
            return None
        a, b = float(matrix[0, 0]), float(matrix[1, 0])
        scale = float(np.hypot(a, b))
        if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
            return None
        rotation = float(np.degrees(np.arctan2(b, a)))
        return LocalHit(label=label, inliers=inliers, matches=int(len(q_sel)),
                        distance=int(np.median(dist[inlier_mask])), rotation_deg=rotation, scale=scale)


def rotation_name(rotation_deg: float) -> str:
    """Name the dihedral rotation closest to the query-to-bank rotation angle.

    The estimated transform maps the copy back onto the original, so a copy rotated 90°
    counter-clockwise needs a -90° (clockwise) turn back.
    """
    turned = (-rotation_deg) % 360
    quarter = int(((turned + 45) % 360) // 90)
    return ("original", "rot90", "rot180", "rot270")[quarter]
