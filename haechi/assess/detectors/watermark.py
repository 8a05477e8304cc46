"""Invisible watermarks with public decoders: the Stable Diffusion reference watermark
(``invisible-watermark``, DWT-DCT): SD 1.x/2.x scripts embed the bytes ``StableDiffusionV1``,
SDXL's pipeline a fixed 48-bit pattern. A decoded watermark is hard evidence.

The decoder is vendored (:mod:`haechi.assess.detectors._dwtdct`, MIT, with its notice):
``invisible-watermark`` declares torch and ``opencv-python`` as dependencies for its RivaGAN
method, so a plain ``pip install`` of Haechi could not include it. Needs OpenCV and PyWavelets,
both Haechi dependencies (declared in :mod:`haechi.plugins`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from haechi.assess.base import HARD, DetectorResult, Media, Reason
from haechi.assess.detectors import _dwtdct

SD_V1 = b"StableDiffusionV1"
SDXL_BITS = [int(b) for b in "101100111110110010010000011110111011000110011110"]
MIN_SIDE = 256


class _Decoder:
    """``imwatermark.WatermarkDecoder``'s interface (``bytes`` and ``bits``, ``dwtDct`` only)."""

    def __init__(self, kind: str, length: int) -> None:
        if kind not in ("bytes", "bits"):
            raise ValueError(f"watermark type {kind!r} is not supported")
        self.kind, self.length = kind, length

    def decode(self, bgr: np.ndarray, method: str = "dwtDct") -> Any:
        if method != "dwtDct":
            raise ValueError(f"watermark method {method!r} is not supported")
        bits = _dwtdct.decode_bits(bgr, self.length)
        return _dwtdct.bytes_of(bits) if self.kind == "bytes" else [int(b) for b in bits]


def _decoder_class() -> Any:
    """The decoder class (kept for callers of the time the decoder was an optional package)."""
    return _Decoder


class WatermarkDetector:
    name: ClassVar[str] = "invisible_watermark"
    #: optional dependencies (auto-archiver manifest style), reported by `haechi doctor` via haechi.plugins
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("cv2", "pywt")}

    def run(self, media: Media) -> DetectorResult:
        if media.rgb is None:
            return DetectorResult("not_applicable")
        decoder_cls = _decoder_class()
        h, w = media.rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            return DetectorResult("not_applicable", data={"reason": f"smaller than {MIN_SIDE} px"})
        bgr = np.ascontiguousarray(media.rgb[:, :, ::-1])
        data: dict[str, Any] = {}
        reasons: list[Reason] = []
        try:
            v1 = decoder_cls("bytes", len(SD_V1) * 8).decode(bgr, "dwtDct")
            xl = decoder_cls("bits", len(SDXL_BITS)).decode(bgr, "dwtDct")
        except Exception as exc:  # noqa: BLE001 - the decoder raises plain errors on odd shapes
            return DetectorResult("error", error=f"{media.path}: watermark decoding failed: {str(exc)[:200]}")
        v1_bytes = bytes(v1) if isinstance(v1, (bytes, bytearray)) else b""
        got = np.frombuffer(v1_bytes.ljust(len(SD_V1), b"\0")[: len(SD_V1)], np.uint8)
        v1_agree = len(SD_V1) * 8 - int(np.unpackbits(got ^ np.frombuffer(SD_V1, np.uint8)).sum())
        xl_agree = int(sum(int(a) == b for a, b in zip(list(xl), SDXL_BITS, strict=False)))
        data["sd_v1_decoded"] = v1_bytes.decode("latin-1")
        data["sd_v1_bits_agreeing"] = f"{v1_agree}/{len(SD_V1) * 8}"
        data["sdxl_bits_agreeing"] = f"{xl_agree}/{len(SDXL_BITS)}"
        # DWT-DCT loses a few bits on textured images; chance agreement of 130+/136 bits is ~1e-31
        if v1_agree >= len(SD_V1) * 8 - 6:
            reasons.append(Reason("watermark", f"Stable Diffusion 1.x/2.x invisible watermark 'StableDiffusionV1' "
                                               f"decoded ({v1_agree}/136 bits, DWT-DCT)", HARD, hard=True))
        elif xl_agree >= len(SDXL_BITS) - 2:  # chance agreement of 46+/48 bits: ~4e-12
            reasons.append(Reason("watermark", f"SDXL invisible watermark decoded ({xl_agree}/48 bits, DWT-DCT)",
                                  HARD, hard=True))
        return DetectorResult("ok", reasons, data)
