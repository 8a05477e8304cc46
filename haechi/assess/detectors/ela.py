"""Error-level analysis: re-save a JPEG at a known quality and map how much each region changes.
A region pasted or retouched after the last save often re-compresses differently from the rest.
A weak hint (0.15) for a human to look at, never evidence on its own: texture, text and
sharp edges light up too. ``--explain DIR`` writes the heat map."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from haechi.assess.base import DetectorResult, Media, Reason

QUALITY = 90
BLOCK = 16
#: a block this many times the median block error, covering >= 0.5% of the image, is flagged
RATIO = 5.0


class ELADetector:
    name: ClassVar[str] = "error_level"

    def run(self, media: Media) -> DetectorResult:
        if media.rgb is None or media.image_format != "JPEG":
            return DetectorResult("not_applicable")
        rgb = media.rgb
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=QUALITY)
        again = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.int16)
        err = np.abs(rgb.astype(np.int16) - again).max(axis=2).astype(np.float32)
        h, w = err.shape
        hb, wb = h // BLOCK, w // BLOCK
        if hb < 4 or wb < 4:
            return DetectorResult("not_applicable", data={"reason": "image too small"})
        blocks = err[: hb * BLOCK, : wb * BLOCK].reshape(hb, BLOCK, wb, BLOCK).mean(axis=(1, 3))
        median = float(np.median(blocks)) + 0.5
        hot = blocks > RATIO * median
        share = float(hot.mean())
        data: dict[str, Any] = {"median_block_error": round(median, 2), "hot_block_share": round(share, 4),
                "max_ratio": round(float(blocks.max()) / median, 2)}
        reasons = []
        if 0.005 <= share <= 0.25:
            ys, xs = np.nonzero(hot)
            box = [int(xs.min()) * BLOCK, int(ys.min()) * BLOCK, int(xs.max() - xs.min() + 1) * BLOCK,
                   int(ys.max() - ys.min() + 1) * BLOCK]
            data["hot_box"] = box
            reasons.append(Reason("error_level", f"region {box} re-compresses {data['max_ratio']}x more than the "
                                                 f"median: possibly edited after the last save (weak hint)", 0.15))
        if media.explain_dir is not None:
            heat = np.clip(err * (255.0 / max(1.0, float(np.percentile(err, 99.5)))), 0, 255).astype(np.uint8)
            out = media.explain_path("ela")
            Image.fromarray(heat, "L").save(out)
            data["heatmap"] = str(out)
        return DetectorResult("ok", reasons, data)
