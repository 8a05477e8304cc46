"""Synthetic-media assessment: detectors (one plugin file each, registered in DETECTORS) and
the assessment of one file. See :mod:`haechi.assess.base` for how reasons become a verdict."""

from __future__ import annotations

from haechi.assess.base import Detector
from haechi.assess.detectors.copy_move import CopyMoveDetector
from haechi.assess.detectors.ela import ELADetector
from haechi.assess.detectors.face_blend import FaceBlendDetector
from haechi.assess.detectors.metadata import MetadataDetector
from haechi.assess.detectors.provenance import ProvenanceDetector
from haechi.assess.detectors.watermark import WatermarkDetector

#: the one place a detector is registered
DETECTORS: list[Detector] = [ProvenanceDetector(), MetadataDetector(), WatermarkDetector(), FaceBlendDetector(),
                             ELADetector(), CopyMoveDetector()]

__all__ = ["DETECTORS"]
