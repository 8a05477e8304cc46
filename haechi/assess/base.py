"""The detector protocol for synthetic-media assessment, and how reasons become a verdict.

A detector looks at one file and returns reasons — ``{"kind", "detail", "weight"}`` — and its
raw result. Each reason's weight is the probability that a file showing it is synthetic, as far
as we can defend it: hard evidence (a valid signed provenance claim of generative AI, a decoded
generator watermark) is 0.99; metadata written by a generator front end is strong but forgeable
(0.9); weak forensic hints (error-level or copy-move anomalies) are 0.15-0.3. Reasons combine
by noisy-OR, ``score = 1 - prod(1 - weight)``, which is calibrated in the sense that each weight
is an estimated precision and reasons are treated as independent — stated plainly in README.

Verdicts: ``synthetic`` needs hard evidence; ``likely_synthetic`` score >= 0.8; ``inconclusive``
score >= 0.3; otherwise ``no_evidence_found`` — never "real": absence of evidence is not
evidence of absence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

HARD = 0.99


@dataclass(frozen=True)
class Reason:
    kind: str
    detail: str
    weight: float
    hard: bool = False

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "weight": round(self.weight, 3)}


@dataclass
class DetectorResult:
    status: str  # "ok" | "not_applicable" | "unavailable" | "error"
    reasons: list[Reason] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "reasons": [r.public() for r in self.reasons]}
        if self.data:
            out["data"] = self.data
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Media:
    """What detectors get: the bytes, the decoded pixels when it is an image, where to explain."""

    path: str
    data: bytes
    media_type: str
    rgb: np.ndarray | None
    image_format: str | None
    explain_dir: Path | None = None

    def explain_path(self, kind: str) -> Path:
        """Where a detector writes its picture for a human (``--explain DIR``): one file per
        detector kind and input, named by the input's SHA-256 prefix. Needs ``explain_dir``."""
        import hashlib

        if self.explain_dir is None:
            raise ValueError("no explain directory was given")
        self.explain_dir.mkdir(parents=True, exist_ok=True)
        return self.explain_dir / f"{kind}_{hashlib.sha256(self.data).hexdigest()[:16]}.png"


class Detector(Protocol):
    name: ClassVar[str]

    def run(self, media: Media) -> DetectorResult: ...


def verdict(reasons: list[Reason]) -> tuple[str, float]:
    score = 1.0 - float(np.prod([1.0 - r.weight for r in reasons])) if reasons else 0.0
    if any(r.hard for r in reasons):
        return "synthetic", score
    if score >= 0.8:
        return "likely_synthetic", score
    if score >= 0.3:
        return "inconclusive", score
    return "no_evidence_found", score
