"""Copy-move hints: a region of the image duplicated elsewhere in the same image (a cloned
patch hiding or adding something). Keypoint method (ORB features matched against the image
itself, as in Amerini et al. 2011 with SIFT): many keypoint pairs sharing one displacement
vector mean one region was copied by that vector. Robust to re-compression, not to rotated or
scaled clones. Repetitive textures (tiles, windows, fences) also repeat by one vector, so this is
a weak hint (0.15) for a human to look at; ``--explain DIR`` draws the matched pairs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from haechi._lazy import cv2  # single-threaded, imported on first use (see haechi._lazy)
from haechi.assess.base import DetectorResult, Media, Reason

LONG_SIDE = 1024
#: pairs closer than this (pixels, at LONG_SIDE) are the same spot, not a copy
MIN_SHIFT = 24
#: at least this many pairs must agree on one displacement (within BIN pixels)
MIN_PAIRS = 12
#: a cloned patch is compact: pairs spread over more than this share of the image are texture
MAX_REGION_SHARE = 0.3
BIN = 6
MAX_HAMMING = 24


class CopyMoveDetector:
    name: ClassVar[str] = "copy_move"
    #: optional dependencies (auto-archiver manifest style), reported by `haechi doctor` via haechi.plugins
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("cv2",)}

    def run(self, media: Media) -> DetectorResult:
        if media.rgb is None:
            return DetectorResult("not_applicable")
        rgb = media.rgb
        h, w = rgb.shape[:2]
        scale = min(1.0, LONG_SIDE / max(h, w))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        if min(gray.shape) < 64:
            return DetectorResult("not_applicable", data={"reason": "image too small"})
        orb = cv2.ORB_create(nfeatures=4000, fastThreshold=10)
        kps, des = orb.detectAndCompute(gray, None)
        if des is None or len(kps) < 2 * MIN_PAIRS:
            return DetectorResult("ok", data={"keypoints": len(kps) if kps else 0})
        pts = np.array([k.pt for k in kps], np.float32)
        matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des, des, k=4)
        votes: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        seen: set[tuple[int, int]] = set()
        for cands in matches:
            for m in cands:
                a, b = m.queryIdx, m.trainIdx
                if a == b or m.distance > MAX_HAMMING:
                    continue
                d = pts[b] - pts[a]
                if float(np.hypot(*d)) < MIN_SHIFT:
                    continue
                if d[0] < 0 or (d[0] == 0 and d[1] < 0):  # one direction per pair
                    a, b, d = b, a, -d
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                votes[(int(round(d[0] / BIN)), int(round(d[1] / BIN)))].append((a, b))
                break
        # merge each bin with its neighbours, as a vector on a bin edge splits its votes
        best_key: tuple[int, int] | None = None
        best: list[tuple[int, int]] = []
        for key in votes:
            group = [p for dx in (-1, 0, 1) for dy in (-1, 0, 1) for p in votes.get((key[0] + dx, key[1] + dy), [])]
            if len(group) > len(best):
                best_key, best = key, group
        data: dict[str, Any] = {"keypoints": len(kps), "largest_consistent_group": len(best)}
        reasons = []
        src = pts[[a for a, _ in best]] / scale if best else np.zeros((1, 2), np.float32)
        x0, y0 = src.min(axis=0)
        x1, y1 = src.max(axis=0)
        share = float((x1 - x0) * (y1 - y0)) / float(h * w)
        if best_key is not None and len(best) >= MIN_PAIRS and share <= MAX_REGION_SHARE:
            box = [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]
            shift = [int(best_key[0] * BIN / scale), int(best_key[1] * BIN / scale)]
            data.update(region=box, shift=shift)
            reasons.append(Reason("copy_move", f"{len(best)} keypoint pairs show region {box} repeated at offset "
                                               f"{shift}: possibly cloned (weak hint; repeating textures do this "
                                               f"too)", 0.15))
            if media.explain_dir is not None:
                canvas = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
                for a, b in best:
                    cv2.line(canvas, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), (255, 0, 0), 1)
                out = media.explain_path("copymove")
                cv2.imwrite(str(out), canvas[:, :, ::-1])
                data["explain"] = str(out)
        return DetectorResult("ok", reasons, data)
