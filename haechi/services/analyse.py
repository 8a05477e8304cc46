"""Turn one media reference into its signals — the unit of work a hashing process does.

Runs in worker processes: everything it takes and returns is picklable, and it never touches
the database.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from haechi.errors import InputError
from haechi.media import decode_image, sniff_media_type
from haechi.media.decode import DRAFT_MIN_SIDE
from haechi.media.video import FRAME_SHORT_SIDE, VideoInfo, VideoLimits, is_animated_image, iter_frames
from haechi.signals.borders import trim_borders
from haechi.signals.faces import FaceBox
from haechi.signals.local import LocalFeatures, orb_features
from haechi.signals.pdq import PDQResult, pdq_of
from haechi.signals.regions import Region, crop, find_regions
from haechi.signals.vpdq import VpdqFrame, to_exchange
from haechi.sources import MediaRef

_CHUNK = 1 << 20

#: the middle-band variant needs at least this many rows in its band: below it (a 1x1 tracking
#: pixel, a 600x1 spacer, a 16-pixel icon) the band is empty or a few rows of PDQ quality 0, and
#: pdqhash raised IndexError on the empty band, aborting the whole batch
BAND_MIN_ROWS = 16


@dataclass(frozen=True)
class AnalyseOptions:
    max_pixels: int
    max_file_bytes: int
    dihedral: bool = False  # scan: all 8 rotation/mirror variants of the PDQ
    trim: bool = False  # scan: also hash the image with uniform borders trimmed
    local_features: int = 0  # number of ORB features to extract (0: none)
    max_video_bytes: int = 16 * 1024**3
    video_seconds_per_hash: float = 1.0
    video_max_frames: int = 3600
    faces: bool = False  # detect faces (images, and sampled video frames)
    #: scans: also search the panels/pictures inside the image (album tiles, a screenshot's
    #: photo) at their own resolution, and spread query keypoints over the frame (issue #20)
    regions: bool = False
    face_embed: bool = True  # ... and embed them (scans); detection only for `haechi faces`


@dataclass
class FrameSignals:
    """PDQ of one sampled video frame; the variants are filled for scans only."""

    number: int
    t_s: float
    pdq: str
    quality: int
    variants: tuple[str, ...] = ()
    mirror_variants: tuple[str, ...] = ()
    trimmed_variants: tuple[str, ...] = ()
    #: PDQ of the frame's middle band (rows 15-85%): captions and subtitles live outside it
    band: str | None = None
    band_quality: int = 0
    band_variants: tuple[str, ...] = ()


@dataclass
class RegionSignals:
    """A picture inside a scanned image (``signals.regions``): its box in the image's pixels,
    PDQ (+ 8 variants), and for local matching its features and pixels (worker only)."""

    box: list[int]
    variants: tuple[str, ...]
    quality: int
    local: LocalFeatures | None = field(default=None, repr=False)
    rgb: np.ndarray | None = field(default=None, repr=False)


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
    band_variants: tuple[str, ...] = ()  # scans: PDQ of the middle band (captioned stills)
    band_quality: int | None = None
    #: videos: sampled frames (vPDQ), duration, whether a cap stopped decoding early
    frames: list[FrameSignals] | None = field(default=None, repr=False)
    duration_s: float | None = None
    truncated: bool = False
    #: detected faces: (box, embedding or None, time in the video or None); embeddings never
    #: leave the worker process
    face_data: list[tuple[FaceBox, np.ndarray | None, float | None]] | None = field(default=None, repr=False)
    local: LocalFeatures | None = field(default=None, repr=False)
    #: decoded pixels, kept only inside a worker for a second look (never returned)
    rgb: np.ndarray | None = field(default=None, repr=False)
    #: scans with ``regions``: the pictures inside the image (worker only; their signals are
    #: computed by the search, only for those it looks at: :func:`region_pdq`,
    #: :func:`region_features`), and those too small to compare or over the count ({box, reason};
    #: returned)
    regions: list[Region] = field(default_factory=list, repr=False)
    regions_skipped: list[dict[str, Any]] = field(default_factory=list)

    def vpdq(self) -> list[VpdqFrame]:
        return [VpdqFrame(f.pdq, f.quality, f.t_s, i) for i, f in enumerate(self.frames or [])]

    def bands(self) -> list[tuple[str, int]]:
        return [(f.band or "0" * 64, f.band_quality if f.band else 0) for f in self.frames or []]

    def public(self) -> dict[str, Any]:
        """The contract fields of ``haechi hash --json``."""
        out: dict[str, Any] = {
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
        if self.media_type == "video":
            out["vpdq"] = to_exchange(self.vpdq()) if self.frames else None
            out["duration_s"] = self.duration_s
            out["frames_hashed"] = len(self.frames or [])
            if self.truncated:
                out["truncated"] = True
        return out


def read_ref(ref: MediaRef, max_file_bytes: int) -> bytes:
    if ref.data is not None:
        return ref.data
    if ref.record is not None:
        from haechi.sources.warc import read_payload

        return read_payload(ref.record, ref.path, max_file_bytes)
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


def _hash_file(path: str, name: str, limit: int) -> tuple[str, str, bytes]:
    """Stream a file through SHA-256 and MD5 without holding it; returns the first bytes too."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    head = b""
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                if not head:
                    head = chunk[:64]
                size += len(chunk)
                if size > limit:
                    raise InputError(name, f"file is over the limit of {limit} bytes")
                sha.update(chunk)
                md5.update(chunk)
    except PermissionError:
        raise InputError(name, "permission denied") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or str(exc)) from None
    return sha.hexdigest(), md5.hexdigest(), head


def _peek(path: str, name: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(64)
    except PermissionError:
        raise InputError(name, "permission denied") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or str(exc)) from None


def analyse(ref: MediaRef, opts: AnalyseOptions) -> MediaRecord:
    """Hash one media reference. Never raises for bad input: the error goes into the record."""
    record = MediaRecord(path=ref.path)
    if ref.error is not None:
        record.error = f"{ref.path}: {ref.error}"
        return record
    try:
        if ref.file is not None and sniff_media_type(_peek(ref.file, ref.path)) == "video":
            record.sha256, record.md5, _ = _hash_file(ref.file, ref.path, opts.max_video_bytes)
            record.media_type = "video"
            _analyse_video(record, ref.file, None, opts)
            return record
        data = read_ref(ref, opts.max_file_bytes)
        record.sha256 = hashlib.sha256(data).hexdigest()
        record.md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        record.media_type = sniff_media_type(data[:64])
        if record.media_type == "video" or is_animated_image(data):
            record.media_type = "video"
            _analyse_video(record, io.BytesIO(data), data, opts)
            return record
        image = decode_image(data, ref.path, max_pixels=opts.max_pixels,
                             draft_min_side=1024 if opts.faces else DRAFT_MIN_SIDE)
        record.media_type = "image"
        record.width, record.height = image.width, image.height
        pdq = pdq_of(image.rgb, dihedral=opts.dihedral)
        record.pdq, record.pdq_quality, record.variants = pdq.hash, pdq.quality, pdq.variants
        if opts.dihedral:
            record.mirror_variants = pdq_of(image.rgb[:, ::-1], dihedral=True).variants
        if opts.trim:
            tp = _trimmed_pdq(image.rgb, opts.dihedral)
            if tp is not None:
                record.trimmed_variants = tp.variants or (tp.hash,)
                record.trimmed_quality = tp.quality
            bp = _band_pdq(image.rgb, opts.dihedral)
            if bp is not None:
                record.band_variants, record.band_quality = bp.variants or (bp.hash,), bp.quality
        if opts.faces:
            record.face_data = _faces(image.rgb, image.width / image.rgb.shape[1], None, opts)
        if opts.local_features:
            record.local = orb_features(image.rgb, opts.local_features, spread=opts.regions)
            record.rgb = image.rgb
        if opts.regions:
            _regions(record, image.rgb)
            record.rgb = image.rgb
    except InputError as exc:
        record.error = str(exc)
    except MemoryError:
        record.error = f"{ref.path}: out of memory while decoding"
    return record


#: a region is searched by local features at this long side at least (small album tiles are
#: enlarged: their corners then fall on the finer levels of ORB's pyramid, where a bank image's
#: coarse levels meet them)
REGION_WORK_SIDE = 400
#: keypoints per region (the whole image has QUERY_FEATURES): a tile is a small part of the page
REGION_FEATURES = 400


def _regions(record: MediaRecord, rgb: np.ndarray) -> None:
    """The pictures inside ``rgb`` (``signals.regions``); their signals are computed on demand."""
    found = find_regions(rgb)
    record.regions = found.found
    record.regions_skipped = [{"box": r.box(), "reason": reason} for r, reason in found.skipped]


def region_pdq(rgb: np.ndarray, region: Region, dihedral: bool) -> RegionSignals:
    """PDQ (+ its 8 dihedral variants when ``dihedral``) of ``region`` of ``rgb``."""
    pdq = pdq_of(np.ascontiguousarray(crop(rgb, region)), dihedral=dihedral)
    return RegionSignals(region.box(), pdq.variants or (pdq.hash,), pdq.quality)


def region_features(rgb: np.ndarray, region: Region, nfeatures: int) -> tuple[LocalFeatures, np.ndarray]:
    """ORB features of ``region`` of ``rgb`` (at most ``nfeatures``, spread over the region), the
    region enlarged to ``REGION_WORK_SIDE`` when smaller; with the pixels they were computed on."""
    from haechi._lazy import cv2

    part = np.ascontiguousarray(crop(rgb, region))
    long_side = max(part.shape[:2])
    if long_side < REGION_WORK_SIDE:
        f = REGION_WORK_SIDE / long_side
        part = cv2.resize(part, (round(part.shape[1] * f), round(part.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
    return orb_features(part, min(REGION_FEATURES, nfeatures), spread=True), part


def _trimmed_pdq(rgb: np.ndarray, dihedral: bool) -> PDQResult | None:
    """PDQ of the image with uniform borders/letterboxes cut off; None when it has none."""
    trimmed = trim_borders(rgb)
    return None if trimmed is None else pdq_of(trimmed, dihedral=dihedral)


def _band_pdq(rgb: np.ndarray, dihedral: bool) -> PDQResult | None:
    """PDQ of the middle band (rows 15-85%): captions and subtitles live outside it. None when
    the image is too small to have a band (see BAND_MIN_ROWS)."""
    h = rgb.shape[0]
    top, bottom = int(h * 0.15), int(h * 0.85)
    if bottom - top < BAND_MIN_ROWS or rgb.shape[1] < BAND_MIN_ROWS:
        return None
    return pdq_of(rgb[top:bottom], dihedral=dihedral)


def _analyse_video(record: MediaRecord, source: Any, data: bytes | None, opts: AnalyseOptions) -> None:
    """vPDQ of a video: PDQ of sampled frames (plus, for scans, rotated/mirrored/trimmed)."""
    limits = VideoLimits(max_pixels=opts.max_pixels, seconds_per_hash=opts.video_seconds_per_hash,
                         max_frames=opts.video_max_frames, short_side=720 if opts.faces else FRAME_SHORT_SIDE)
    if opts.faces:
        record.face_data = []
    info = VideoInfo()
    frames: list[FrameSignals] = []
    for frame in iter_frames(source, record.path, limits, info, data=data):
        pdq = pdq_of(frame.rgb, dihedral=opts.dihedral)
        fs = FrameSignals(frame.number, frame.t_s, pdq.hash, pdq.quality, variants=pdq.variants)
        band = _band_pdq(frame.rgb, opts.dihedral)
        if band is not None:
            fs.band, fs.band_quality, fs.band_variants = band.hash, band.quality, band.variants
        if opts.dihedral:
            fs.mirror_variants = pdq_of(frame.rgb[:, ::-1], dihedral=True).variants
        if opts.trim:
            tp = _trimmed_pdq(frame.rgb, opts.dihedral)
            if tp is not None:
                fs.trimmed_variants = tp.variants or (tp.hash,)
        frames.append(fs)
        if opts.faces and record.face_data is not None and info.width:
            record.face_data += _faces(frame.rgb, info.width / frame.rgb.shape[1], frame.t_s, opts)
    record.width, record.height = info.width or None, info.height or None
    record.duration_s, record.truncated = info.duration_s, info.truncated
    if not frames:
        raise InputError(record.path, "no decodable video frames (zero-length or corrupt video)")
    record.frames = frames


def _faces(rgb: np.ndarray, scale: float, t_s: float | None,
           opts: AnalyseOptions) -> list[tuple[FaceBox, np.ndarray | None, float | None]]:
    """Faces in a decoded image, boxes in the original image's pixels (``scale`` = original
    width / decoded width)."""
    from haechi.signals.faces import engine

    eng = engine()
    out: list[tuple[FaceBox, np.ndarray | None, float | None]] = []
    for box in eng.detect(rgb):
        emb = eng.embed(rgb, box) if opts.face_embed else None
        full = FaceBox(round(box.x * scale), round(box.y * scale), round(box.w * scale), round(box.h * scale),
                       box.score, box.kind)
        out.append((full, emb, t_s))
    return out
