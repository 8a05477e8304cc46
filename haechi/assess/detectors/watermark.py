"""Invisible watermarks with public decoders: the Stable Diffusion reference watermark
(``invisible-watermark``, DWT-DCT): SD 1.x/2.x scripts embed the bytes ``StableDiffusionV1``,
SDXL's pipeline a fixed 48-bit pattern. A decoded watermark is hard evidence.

``invisible-watermark`` declares torch as a dependency and imports it at module load for its
RivaGAN method; Haechi installs it with ``--no-deps`` and registers a stub for that one module,
so the DWT-DCT decoder works without torch.
"""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

import numpy as np

from haechi.assess.base import HARD, DetectorResult, Media, Reason

SD_V1 = b"StableDiffusionV1"
SDXL_BITS = [int(b) for b in "101100111110110010010000011110111011000110011110"]
MIN_SIDE = 256


def _decoder_class() -> Any:
    if "imwatermark.rivaGan" not in sys.modules:
        stub = types.ModuleType("imwatermark.rivaGan")

        class RivaWatermark:  # noqa: D401 - stand-in: Haechi never uses the torch-based method
            def __init__(self, *a: Any, **k: Any) -> None:
                raise RuntimeError("RivaGAN watermarks need torch, which Haechi does not install")

        stub.RivaWatermark = RivaWatermark  # type: ignore[attr-defined]
        sys.modules["imwatermark.rivaGan"] = stub
    from imwatermark import WatermarkDecoder

    return WatermarkDecoder


class WatermarkDetector:
    name: ClassVar[str] = "invisible_watermark"

    def run(self, media: Media) -> DetectorResult:
        if media.rgb is None:
            return DetectorResult("not_applicable")
        try:
            decoder_cls = _decoder_class()
        except ImportError:
            return DetectorResult("unavailable", error="invisible-watermark is not installed (make installs it)")
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
