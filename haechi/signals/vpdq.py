"""vPDQ: per-frame PDQ hashes of a video, and the reference way of comparing two of them.

Exchange format: python-threatexchange / HMA's ``VideoVPDQSignal`` string — a JSON list of
``"<pdq hex>,<quality>,<timestamp s>"``. That is what ``bank export`` writes and ``bank import``
reads for ``signal_type: vpdq``; the reference C++ tool's per-line files
(``frame,quality,hex,timestamp``) are read too.

Storage: frames are packed into one blob per video (32 bytes hash + 1 byte quality + 4 bytes
float32 timestamp = 37 bytes/frame), not one row per frame.

Matching (threatexchange ``match_VPDQ_hash_brute``): drop frames under the quality floor and
duplicate hashes; ``query_match_percent`` = share of query frames within the distance of some
compared frame; ``compared_match_percent`` the other way round. Defaults: distance 31,
quality 50, match when query ≥ 80% (compared ≥ 0%), so an excerpt of a banked video matches.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from haechi.errors import BadSignal
from haechi.signals.base import VIDEO, SignalType
from haechi.signals.pdq import PDQSignal

DEFAULT_QUERY_MATCH_PERCENT = 80.0
DEFAULT_COMPARED_MATCH_PERCENT = 0.0
_FRAME = struct.Struct("<32sBf")
#: frames per video the index can address (labels pack entry id and frame number)
MAX_FRAMES = 1 << 20


@dataclass(frozen=True)
class VpdqFrame:
    pdq: str  # 64 hex
    quality: int
    t_s: float
    number: int = 0


def to_exchange(frames: list[VpdqFrame]) -> str:
    """threatexchange/HMA ``VideoVPDQSignal`` string."""
    return json.dumps([f"{f.pdq},{f.quality},{f.t_s:.3f}" for f in frames], separators=(",", ":"))


def from_exchange(value: str) -> list[VpdqFrame]:
    """Parse the HMA JSON form or reference per-line text; raises :class:`BadSignal`."""
    text = value.strip()
    items: list[str]
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise BadSignal(value[:80], f"vpdq is not valid JSON: {exc}") from None
        if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
            raise BadSignal(value[:80], "vpdq JSON must be a list of strings")
        items = loaded
    else:
        items = [line for line in text.replace(";", "\n").splitlines() if line.strip()]
    frames: list[VpdqFrame] = []
    for number, item in enumerate(items):
        parts = [p.strip() for p in item.split(",")]
        try:
            if len(parts) == 3:  # hex,quality,timestamp
                pdq, quality, t_s = parts[0], int(parts[1]), float(parts[2])
            elif len(parts) == 4:  # reference C++: frame,quality,hex,timestamp
                pdq, quality, t_s = parts[2], int(parts[1]), float(parts[3])
            else:
                raise ValueError(f"expected 3 or 4 fields, got {len(parts)}")
            pdq = PDQSignal.normalize(pdq)
        except (ValueError, BadSignal) as exc:
            raise BadSignal(item[:80], f"bad vpdq frame {number}: {exc}") from None
        if not 0 <= quality <= 100 or not np.isfinite(t_s) or t_s < 0:
            raise BadSignal(item[:80], f"bad vpdq frame {number}: quality or timestamp out of range")
        frames.append(VpdqFrame(pdq, quality, round(t_s, 3), number))
    if not frames:
        raise BadSignal(value[:80], "vpdq has no frames")
    if len(frames) > MAX_FRAMES:
        raise BadSignal(value[:80], f"vpdq has more than {MAX_FRAMES} frames")
    return frames


def pack(frames: list[VpdqFrame]) -> bytes:
    return b"".join(_FRAME.pack(bytes.fromhex(f.pdq), f.quality, f.t_s) for f in frames)


def unpack(blob: bytes) -> list[VpdqFrame]:
    return [VpdqFrame(h.hex(), q, round(t, 3), i) for i, (h, q, t) in enumerate(_FRAME.iter_unpack(blob))]


_BAND = struct.Struct("<32sB")


def pack_bands(bands: list[tuple[str, int]]) -> bytes:
    """Middle-band PDQs (hash, quality) of the frames, in frame order."""
    return b"".join(_BAND.pack(bytes.fromhex(h), q) for h, q in bands)


def unpack_bands(blob: bytes | None) -> list[tuple[str, int]]:
    return [(h.hex(), q) for h, q in _BAND.iter_unpack(blob or b"")]


def fingerprint(frames: list[VpdqFrame]) -> str:
    """Stable 64-hex identity of a vPDQ hash (the bank entry's ``signal``)."""
    return hashlib.sha256(to_exchange(frames).encode()).hexdigest()


def unique_good(frames: list[VpdqFrame], quality_floor: int) -> list[VpdqFrame]:
    """Frames the reference comparison counts: quality >= floor, first of each identical hash."""
    seen: set[str] = set()
    out = []
    for f in frames:
        if f.quality >= quality_floor and f.pdq not in seen:
            seen.add(f.pdq)
            out.append(f)
    return out


def frame_label(entry_id: int, frame: int) -> int:
    """Index label of a banked video frame: negative, so it never collides with an entry id."""
    return -((entry_id << 20) | frame) - 1


def split_label(label: int) -> tuple[int, int]:
    x = -label - 1
    return x >> 20, x & (MAX_FRAMES - 1)


def segments(times: list[float], gap: float) -> list[list[float]]:
    """Merge sorted timestamps into [start, end] runs where neighbours are at most ``gap`` apart."""
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][1] <= gap + 1e-6:
            out[-1][1] = t
        else:
            out.append([t, t])
    return [[round(a, 3), round(b, 3)] for a, b in out]


class VPDQSignal(SignalType):
    """Bank signal type for videos; ``normalize`` returns the canonical exchange string."""

    name: ClassVar[str] = "vpdq"
    exact: ClassVar[bool] = False
    content_types: ClassVar[tuple[str, ...]] = (VIDEO,)
    #: hashing videos decodes them with PyAV (FFmpeg); reported by `haechi doctor` when missing
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("av",)}
    field_names: ClassVar[dict[str, str]] = {VIDEO: "vpdq"}

    @classmethod
    def examples(cls) -> list[str]:
        # as tx's VPDQSignal.get_examples: one frame per second from the PDQ examples, quality 100
        return [to_exchange([VpdqFrame(h, 100, float(t)) for t, h in enumerate(PDQSignal.examples())])]

    @classmethod
    def normalize(cls, value: str) -> str:
        return to_exchange(from_exchange(value))
