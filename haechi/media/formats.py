"""Which file formats Haechi reads, decided from the bytes — an allow-list.

Why an allow-list: Pillow hands EPS/PS (and PDF-like files) to Ghostscript, an external program
with a long record of exploitable bugs, and opens dozens of rare formats nobody sends a support
centre. Everything from the internet is identified here by its magic bytes; only the formats
below are decoded, in this process, and anything else is refused as
``unsupported format: NAME`` (or "not a recognised image format" when nothing matches).

HEIC/HEIF (iPhone photos) are decoded by ``pi-heif`` (libheif + libde265, LGPL-3.0, decode only —
chosen over ``pillow-heif``, whose wheels also bundle the GPL x265 encoder); AVIF by Pillow's own
libavif plugin. A still AVIF/HEIF is a photo (PDQ); an animated one is a video (vPDQ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Pillow plugins allowed to open untrusted images (format names as Pillow reports them)
PIL_FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "AVIF", "HEIF")

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
                b"mif2", b"heif"}
_AVIF_BRANDS = {b"avif", b"avis"}


@dataclass(frozen=True)
class Format:
    """``kind``: ``image``, ``video``, ``unsupported`` or ``unknown``; ``name``: what the bytes are."""

    kind: str
    name: str


UNKNOWN = Format("unknown", "unknown")


def _ftyp(head: bytes) -> Format:
    size = int.from_bytes(head[:4], "big")
    end = min(len(head), size if 16 <= size <= 64 else 64)
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and brands & _AVIF_BRANDS):
        return Format("image", "AVIF")
    if major in _HEIF_BRANDS:
        return Format("image", "HEIF")
    return Format("video", "MP4/QuickTime")


def identify(head: bytes) -> Format:
    """What the first bytes of a file say it is (64 bytes are enough)."""
    if head.startswith(b"\xff\xd8\xff"):
        return Format("image", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format("image", "PNG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Format("image", "GIF")
    if head.startswith(b"RIFF"):
        sub = head[8:12]
        if sub == b"WEBP":
            return Format("image", "WEBP")
        if sub == b"AVI ":
            return Format("video", "AVI")
        return Format("unsupported", "RIFF " + sub.decode("latin-1").strip())
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    if head[4:8] in (b"moov", b"mdat", b"free", b"wide"):
        return Format("video", "MP4/QuickTime")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Format("video", "Matroska/WebM")
    if head.startswith(b"FLV"):
        return Format("video", "FLV")
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return Format("video", "MPEG")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Format("image", "TIFF")
    if head.startswith(b"BM") and len(head) >= 14:
        return Format("image", "BMP")
    if head[:4] == b"\x00\x00\x01\x00":
        return Format("image", "ICO")
    for magic, name in _UNSUPPORTED:
        if head.startswith(magic):
            return Format("unsupported", name)
    text = head.lstrip()[:64].lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return Format("unsupported", "SVG")
    if text.startswith((b"<!doctype html", b"<html")):
        return Format("unsupported", "HTML")
    return UNKNOWN


_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"OggS", "Ogg audio"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!", "RAR"),
    (b"\xd0\xcf\x11\xe0", "OLE document"),
    (b"gimp xcf", "XCF"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"DDS ", "DDS"),
    (b"\x0a\x05\x01", "PCX"),
    (b"P1", "PBM"), (b"P2", "PGM"), (b"P3", "PPM"), (b"P4", "PBM"), (b"P5", "PGM"), (b"P6", "PPM"),
)


def unsupported_reason(head: bytes) -> str:
    """The error for bytes that no allowed decoder opened."""
    fmt = identify(head)
    if fmt.kind == "unsupported":
        return f"unsupported format: {fmt.name}"
    return "not a recognised image format"


def register_heif() -> bool:
    """Teach Pillow to open HEIC/HEIF (pi-heif); False when it is not installed."""
    try:
        import pi_heif
    except ImportError:  # pragma: no cover - a pinned dependency; kept optional for slim installs
        return False
    pi_heif.register_heif_opener()
    return True


_ready: tuple[str, ...] | None = None


def pil_formats() -> tuple[str, ...]:
    """The allowed formats Pillow can open here, for ``Image.open(..., formats=...)`` (which
    tries only those plugins, so EPS/PS never reach Ghostscript)."""
    global _ready
    if _ready is None:
        from PIL import Image

        register_heif()
        Image.init()  # loads the plugins; only the allowed ones are ever tried
        _ready = tuple(f for f in PIL_FORMATS if f in Image.OPEN)
    return _ready


#: archive formats by their first bytes (tar: "ustar" at offset 257, so give 512 bytes)
_ARCHIVES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"PK\x03\x04", "ZIP"), (0, b"PK\x05\x06", "ZIP"), (0, b"PK\x07\x08", "ZIP"),
    (0, b"\x1f\x8b", "gzip"), (0, b"BZh", "bzip2"), (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"), (0, b"7z\xbc\xaf\x27\x1c", "7z"), (0, b"Rar!", "RAR"),
    (257, b"ustar", "tar"),
)


def archive_format(head: bytes) -> str | None:
    """The archive (or compressed stream) format ``head`` starts with — ``"ZIP"``, ``"tar"``,
    ``"gzip"`` (tar.gz too), ... — or None. Give at least 512 bytes: a tar says so at 257."""
    for offset, magic, name in _ARCHIVES:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _jpeg_one_exif(data: bytes) -> bytes:
    """``data`` without the Exif APP1 segments after the first, when it is a JPEG that has more.

    Why: EXIF fits one APP1 segment (at most 64 KiB, CIPA DC-008); Pillow appends every further
    Exif segment to the first with ``bytes +=`` while reading the header, which is quadratic — a
    39 MB JPEG of 600 Exif segments held ``Image.open`` for 17 s (and a hashing worker for its
    whole time limit). The first segment (orientation) and the pixels are kept, so the decoded
    image is the same; the caller's SHA-256/MD5 are of the bytes as sent. Linear in the header's
    segment count; returns ``data`` itself when nothing is dropped."""
    if not data.startswith(b"\xff\xd8"):
        return data
    pos, n, kept, seen_exif, start = 2, len(data), [], False, 0
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            break  # not a marker: leave the rest to the decoder
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: the header is over
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            if seen_exif:
                kept.append(data[start:pos])
                start = end
            seen_exif = True
        pos = end
    if not kept:
        return data
    kept.append(data[start:])
    return b"".join(kept)


def open_image(data: bytes) -> Any:
    """``PIL.Image.open`` of untrusted bytes: the allowed formats only (:func:`pil_formats`: no
    Ghostscript, no rare plugins) and a JPEG's header bounded (:func:`_jpeg_one_exif`). Raises
    what ``Image.open`` raises (``UnidentifiedImageError``, ``DecompressionBombError``, ...)."""
    import io

    from PIL import Image

    return Image.open(io.BytesIO(_jpeg_one_exif(data)), formats=pil_formats())
