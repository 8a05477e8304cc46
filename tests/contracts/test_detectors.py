"""Every detector on generated images: a well-formed result (``ok`` / ``not_applicable``, or
``unavailable`` when a declared optional dependency is missing), never an exception. And the
vendored watermark decoder against the reference package when that is installed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from haechi import plugins
from haechi.assess.base import DetectorResult, Media
from haechi.demo.samples import scene
from haechi.media import decode_image

DETECTORS = list(plugins.detectors().values())
STATUSES = {"ok", "not_applicable", "unavailable", "error"}


def _media(fmt: str, size: tuple[int, int]) -> Media:
    buf = io.BytesIO()
    scene(11).resize(size).save(buf, fmt)
    data = buf.getvalue()
    image = decode_image(data, f"generated.{fmt.lower()}", max_pixels=50_000_000, draft_min_side=None)
    return Media(f"generated.{fmt.lower()}", data, "image", image.rgb, image.format)


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.name for d in DETECTORS])
@pytest.mark.parametrize(("fmt", "size"), [("JPEG", (640, 480)), ("PNG", (320, 240)), ("PNG", (48, 32))])
def test_detector_returns_a_well_formed_result(detector: object, fmt: str, size: tuple[int, int]) -> None:
    (entry,) = [p for p in plugins.index(("detectors",)) if p.name == detector.name]  # type: ignore[attr-defined]
    result = detector.run(_media(fmt, size))  # type: ignore[attr-defined]
    assert isinstance(result, DetectorResult) and result.status in STATUSES
    assert result.status != "error", result.error
    if result.status == "unavailable":
        assert entry.missing(), f"{entry.name} is unavailable although its declared dependencies are present"
        assert result.error
    for reason in result.reasons:
        assert reason.kind and reason.detail and 0.0 < reason.weight <= 1.0
    json.dumps(result.public())


def test_vendored_watermark_finds_what_the_vendored_encoder_embeds() -> None:
    from haechi.assess.detectors import _dwtdct
    from haechi.assess.detectors.watermark import SD_V1

    bgr = np.ascontiguousarray(np.asarray(scene(6, (512, 512)))[:, :, ::-1])
    bits = np.unpackbits(np.frombuffer(SD_V1, np.uint8))
    marked = _dwtdct.encode(bgr, bits)
    # DWT-DCT loses a bit or two to uint8 rounding; the detector accepts 130 of 136
    assert int((_dwtdct.decode_bits(marked, len(bits)) == bits.astype(bool)).sum()) >= 130
    assert int((_dwtdct.decode_bits(bgr, len(bits)) == bits.astype(bool)).sum()) < 100
    with pytest.raises(ValueError):
        _dwtdct.decode_bits(bgr[:100, :100], len(bits))


@pytest.mark.parametrize("size", [(512, 512), (641, 479), (1023, 771)])
def test_vendored_watermark_is_bit_identical_to_the_reference(size: tuple[int, int]) -> None:
    imwatermark = pytest.importorskip("imwatermark")  # conftest stands in for its torch-only module
    from haechi.assess.detectors import _dwtdct
    from haechi.assess.detectors.watermark import SD_V1

    bgr = np.ascontiguousarray(np.asarray(scene(7, size))[:, :, ::-1])
    enc = imwatermark.WatermarkEncoder()
    enc.set_watermark("bytes", SD_V1)
    reference = enc.encode(bgr.copy(), "dwtDct")
    ours = _dwtdct.encode(bgr.copy(), np.unpackbits(np.frombuffer(SD_V1, np.uint8)))
    assert np.array_equal(reference, ours)
    jpeg = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(reference[:, :, ::-1])).save(jpeg, "JPEG", quality=90)
    recompressed = np.ascontiguousarray(np.asarray(Image.open(jpeg).convert("RGB"))[:, :, ::-1])
    for image in (reference, bgr, recompressed):
        for kind, length in (("bytes", 136), ("bits", 48)):
            want = imwatermark.WatermarkDecoder(kind, length).decode(image, "dwtDct")
            got = _dwtdct.decode_bits(image, length)
            if kind == "bytes":
                assert _dwtdct.bytes_of(got) == want
            else:
                assert [int(b) for b in got] == [int(b) for b in want]
