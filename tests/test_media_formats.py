"""Formats (#16): the bytes decide, from an allow-list. Still AVIF/HEIC photos are photos (PDQ like
their JPEG twin), animated ones videos; EPS/PS/PDF never reach Ghostscript and anything outside the
list is "unsupported format: NAME". Every input is generated here (HEIC is assembled box by box
around one HEVC frame from PyAV's x265, since the decoder we ship cannot encode)."""

from __future__ import annotations

import fractions
import io
import re
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.errors import MediaError
from haechi.media import decode_image, sniff_media_type
from haechi.media.formats import identify
from haechi.services.analyse import AnalyseOptions, analyse
from haechi.signals.pdq import hamming
from haechi.sources import MediaRef

OPTS = AnalyseOptions(max_pixels=50_000_000, max_file_bytes=10**8)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _fullbox(kind: bytes, version: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24) + payload)


def heic_bytes(im: Image.Image) -> bytes:
    """A still HEIC (ftyp heic, one hvc1 item), as iPhones write them, from one x265 frame."""
    rgb = np.asarray(im.convert("RGB"))
    h, w = rgb.shape[:2]
    codec = av.CodecContext.create("libx265", "w")
    codec.width, codec.height, codec.pix_fmt = w, h, "yuv420p"
    codec.time_base = fractions.Fraction(1, 25)
    codec.options = {"x265-params": "log-level=none:keyint=1", "preset": "ultrafast"}
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    stream = b"".join(bytes(p) for p in codec.encode(frame)) + b"".join(bytes(p) for p in codec.encode(None))
    nals = [n for n in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", stream) if n]

    def kind(n: bytes) -> int:
        return (n[0] >> 1) & 0x3F

    sps = next(n for n in nals if kind(n) == 33)
    arrays = b"".join(struct.pack(">BH", 0x80 | t, sum(kind(n) == t for n in nals))
                      + b"".join(struct.pack(">H", len(n)) + n for n in nals if kind(n) == t) for t in (32, 33, 34))
    hvcc = bytes([1]) + sps[3:15] + bytes([0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 3]) + arrays
    image = b"".join(struct.pack(">I", len(n)) + n for n in nals if kind(n) < 32)
    ftyp = _box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")

    def meta(offset: int) -> bytes:
        iloc = _fullbox(b"iloc", 0, bytes([0x44, 0x00]) + struct.pack(">HHHHII", 1, 1, 0, 1, offset, len(image)))
        infe = _fullbox(b"infe", 2, struct.pack(">HH", 1, 0) + b"hvc1\x00")
        ipco = _box(b"ipco", _box(b"hvcC", hvcc) + _fullbox(b"ispe", 0, struct.pack(">II", w, h)))
        ipma = _fullbox(b"ipma", 0, struct.pack(">IHB", 1, 1, 2) + bytes([0x81, 0x02]))
        return _fullbox(b"meta", 0, _fullbox(b"hdlr", 0, b"\x00" * 4 + b"pict" + b"\x00" * 13)
                        + _fullbox(b"pitm", 0, struct.pack(">H", 1)) + iloc
                        + _fullbox(b"iinf", 0, struct.pack(">H", 1) + infe) + _box(b"iprp", ipco + ipma))

    offset = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(offset) + _box(b"mdat", image)


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_still_avif_and_heic_are_photos_hashed_like_their_jpeg_twin(fmt: str) -> None:
    photo = scene(21).resize((480, 360))
    data = _save(photo, "AVIF", quality=80) if fmt == "AVIF" else heic_bytes(photo)
    assert identify(data[:64]).name == fmt and sniff_media_type(data[:64]) == "image"
    rec = analyse(MediaRef(path=f"photo.{fmt.lower()}", data=data), OPTS)
    twin = analyse(MediaRef(path="photo.jpg", data=_save(photo, "JPEG", quality=90)), OPTS)
    assert rec.error is None and rec.media_type == "image" and (rec.width, rec.height) == (480, 360)
    assert rec.pdq and twin.pdq and hamming(rec.pdq, twin.pdq) <= 16


def test_animated_avif_is_a_video() -> None:
    frames = [scene(30 + i).resize((160, 120)) for i in range(4)]
    data = _save(frames[0], "AVIF", save_all=True, append_images=frames[1:], duration=500)
    rec = analyse(MediaRef(path="anim.avif", data=data), OPTS)
    assert rec.error is None and rec.media_type == "video" and rec.frames and len(rec.frames) >= 2


def test_mp4_is_still_a_video() -> None:
    assert identify(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2").kind == "video"
    assert identify(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ").kind == "video"


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
       b"newpath 0 0 moveto 10 10 lineto stroke showpage\n%%EOF\n")


@pytest.mark.parametrize(("data", "reason"), [
    (EPS, "unsupported format: PostScript/EPS"),  # was handed to Ghostscript (Pillow's EPS plugin)
    (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "unsupported format: PDF"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "unsupported format: SVG"),
    (_save(scene(1).resize((32, 32)), "TGA"), "not a recognised image format"),  # Pillow could; we don't
    (_save(scene(1).resize((32, 32)), "PCX"), "unsupported format: PCX"),
    (_save(scene(1).resize((32, 32)), "PPM"), "unsupported format: PPM"),
], ids=["eps", "pdf", "svg", "tga", "pcx", "ppm"])
def test_formats_outside_the_allow_list_are_refused_by_name(data: bytes, reason: str) -> None:
    with pytest.raises(MediaError) as exc:
        decode_image(data, "upload", max_pixels=10**8)
    assert exc.value.reason == reason
    rec = analyse(MediaRef(path="upload", data=data), OPTS)
    assert rec.error == f"upload: {reason}"


def test_bank_add_of_a_heic_and_scan_of_its_jpeg_copy(sqlite_haechi: Haechi, tmp_path: Path) -> None:
    photo = scene(22).resize((400, 300))
    (tmp_path / "IMG_0001.HEIC").write_bytes(heic_bytes(photo))
    (tmp_path / "copy.jpg").write_bytes(_save(photo.resize((300, 225)), "JPEG", quality=70))
    sqlite_haechi.create_bank("b")
    list(sqlite_haechi.add_to_bank("b", [tmp_path / "IMG_0001.HEIC"]))
    (row,) = list(sqlite_haechi.scan([tmp_path / "copy.jpg"]))
    assert any(m["signal_type"] == "pdq" for m in row["matches"])
