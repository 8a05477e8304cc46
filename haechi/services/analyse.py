"""Turn one media reference into its signals — the unit of work a hashing process does.

Runs in worker processes: everything it takes and returns is picklable, and it never touches
the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from haechi.errors import InputError
from haechi.media import decode_image, sniff_media_type
from haechi.signals.borders import trim_borders
from haechi.signals.local import LocalFeatures, orb_features
from haechi.signals.pdq import pdq_of
from haechi.sources import MediaRef


@dataclass(frozen=True)
class AnalyseOptions:
    max_pixels: int
    max_file_bytes: int
    dihedral: bool = False  # scan: all 8 rotation/mirror variants of the PDQ
    trim: bool = False  # scan: also hash the image with uniform borders trimmed
    local_features: int = 0  # number of ORB features to extract (0: none)


@dataclass
class MediaRecord:
    """Everything Haechi knows about one media file after analysis."""

    path: str
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    media_type: str = "unknown"
    width: int | None = None
    height: int | None = None
    error: str | None = None
    variants: tuple[str, ...] = ()
    #: dihedral variants of the pixel-mirrored image: PDQ's own flip variants are not exact on
    #: fine textures (a flipped brick wall measured 86 bits away), hashing the mirror is
    mirror_variants: tuple[str, ...] = ()
    trimmed_variants: tuple[str, ...] = ()
    trimmed_quality: int | None = None
    local: LocalFeatures | None = field(default=None, repr=False)
    #: decoded pixels, kept only inside a worker for a second look (never returned)
    rgb: np.ndarray | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """The contract fields of ``haechi hash --json``."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "md5": self.md5,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "error": self.error,
        }


def read_ref(ref: MediaRef, max_file_bytes: int) -> bytes:
    if ref.data is not None:
        return ref.data
    assert ref.file is not None
    try:
        with open(ref.file, "rb") as fh:
            data = fh.read(max_file_bytes + 1)
    except PermissionError:
        raise InputError(ref.path, "permission denied") from None
    except OSError as exc:
        raise InputError(ref.path, exc.strerror or str(exc)) from None
    if len(data) > max_file_bytes:
        raise InputError(ref.path, f"file is over the limit of {max_file_bytes} bytes")
    return data


def analyse(ref: MediaRef, opts: AnalyseOptions) -> MediaRecord:
    """Hash one media reference. Never raises for bad input: the error goes into the record."""
    record = MediaRecord(path=ref.path)
    if ref.error is not None:
        record.error = f"{ref.path}: {ref.error}"
        return record
    try:
        data = read_ref(ref, opts.max_file_bytes)
        record.sha256 = hashlib.sha256(data).hexdigest()
        record.md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        record.media_type = sniff_media_type(data[:64])
        if record.media_type == "video":
            raise InputError(ref.path, "video files are not hashed yet (vPDQ support is planned)")
        image = decode_image(data, ref.path, max_pixels=opts.max_pixels)
        record.media_type = "image"
        record.width, record.height = image.width, image.height
        pdq = pdq_of(image.rgb, dihedral=opts.dihedral)
        record.pdq, record.pdq_quality, record.variants = pdq.hash, pdq.quality, pdq.variants
        if opts.dihedral:
            record.mirror_variants = pdq_of(image.rgb[:, ::-1], dihedral=True).variants
        if opts.trim:
            trimmed = trim_borders(image.rgb)
            if trimmed is not None:
                tp = pdq_of(trimmed, dihedral=opts.dihedral)
                record.trimmed_variants = tp.variants or (tp.hash,)
                record.trimmed_quality = tp.quality
        if opts.local_features:
            record.local = orb_features(image.rgb, opts.local_features)
            record.rgb = image.rgb
    except InputError as exc:
        record.error = str(exc)
    except MemoryError:
        record.error = f"{ref.path}: out of memory while decoding"
    return record
