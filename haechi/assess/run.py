"""Assess one media reference with every registered detector (runs in worker processes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haechi.assess.base import DetectorResult, Media, Reason, verdict
from haechi.errors import InputError
from haechi.media import decode_image, sniff_media_type
from haechi.media.video import is_animated_image
from haechi.sources import MediaRef


@dataclass(frozen=True)
class AssessOptions:
    max_pixels: int
    max_file_bytes: int
    explain_dir: str | None = None


def assess_ref(ref: MediaRef, opts: AssessOptions) -> dict[str, Any]:
    """``{"path","verdict","score","reasons","detectors","error"}`` for one file. Never raises for
    bad input; a detector that fails is reported in ``detectors`` and the others still run."""
    from haechi.assess import DETECTORS
    from haechi.services.analyse import read_ref

    out: dict[str, Any] = {"path": ref.path, "verdict": None, "score": None, "reasons": [], "detectors": {},
                           "error": None}
    if ref.error is not None:
        out["error"] = f"{ref.path}: {ref.error}"
        return out
    try:
        data = read_ref(ref, opts.max_file_bytes)
        kind = sniff_media_type(data[:64])
        rgb, fmt = None, None
        if kind != "video" and not is_animated_image(data):
            image = decode_image(data, ref.path, max_pixels=opts.max_pixels, draft_min_side=None)
            rgb, fmt, kind = image.rgb, image.format, "image"
        elif kind != "video":
            kind = "video"
    except InputError as exc:
        out["error"] = str(exc)
        return out
    media = Media(ref.path, data, kind, rgb, fmt, Path(opts.explain_dir) if opts.explain_dir else None)
    reasons: list[Reason] = []
    for detector in DETECTORS:
        try:
            result = detector.run(media)
        except Exception as exc:  # noqa: BLE001 - one broken detector must not stop the assessment
            result = DetectorResult("error", error=f"{ref.path}: {detector.name} failed: {type(exc).__name__}: "
                                                   f"{str(exc)[:200]}")
        out["detectors"][detector.name] = result.public()
        reasons += result.reasons
    label, score = verdict(reasons)
    out.update(verdict=label, score=round(score, 3),
               reasons=[r.public() for r in sorted(reasons, key=lambda r: -r.weight)])
    return out
