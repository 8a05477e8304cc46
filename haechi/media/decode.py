"""Decode untrusted image bytes into an RGB array, safely.

Why here and only here: every byte that came from the internet goes through one decoder with
one set of limits (pixel cap against decompression bombs, truncated-file errors instead of
silently padded images), so no signal can forget a check.
"""

from __future__ import annotations

import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from haechi.errors import MediaError
from haechi.media.formats import identify, open_image, unsupported_reason

# Never pad a truncated image with grey: that would give a hash of something that is not there.
ImageFile.LOAD_TRUNCATED_IMAGES = False

#: JPEG draft decoding target: decoding at 1/2..1/8 scale keeps the short side at least this
#: large. PDQ works on a 64x64 downsample; at 512 the hash moves by <= 6 bits (measured on
#: ../shared/data, see tests) while decoding is several times faster on large photos.
DRAFT_MIN_SIDE = 512

#: Decoded images over this many pixels are box-reduced by an integer factor (keeping the short
#: side at least ``draft_min_side``) before they are hashed — what JPEG draft decoding does for
#: JPEGs, for every other format: PDQ's cost and memory grow with pixels (an 8900x8900 PNG of
#: 77 KB took 12.5 s and 1.3 GB in ``pdqhash``) while its 64x64 downsample does not need them.
#: Measured on ../shared/data/photos_misc enlarged to ~7000 px: reducing by 2-4 moved PDQ by <= 6
#: bits, as JPEG drafts do.
REDUCE_ABOVE_PIXELS = 16_000_000

# EXIF orientations that swap width and height.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded to 8-bit RGB, EXIF orientation applied.

    ``width``/``height`` are the full-resolution displayed size even when ``rgb`` was decoded
    at a reduced JPEG draft scale.
    """

    rgb: np.ndarray
    width: int
    height: int
    format: str | None
    frames: int


def sniff_media_type(head: bytes) -> str:
    """``image``, ``video`` or ``unknown`` from the first bytes of a file (the allow-list of
    :mod:`haechi.media.formats`: AVIF/HEIC are images even though they are ISO-BMFF files like
    MP4; an animated one is found to be a video when it is opened)."""
    kind = identify(head).kind
    return kind if kind in ("image", "video") else "unknown"


def decode_image(
    data: bytes,
    source: str,
    *,
    max_pixels: int,
    draft_min_side: int | None = DRAFT_MIN_SIDE,
) -> DecodedImage:
    """Decode ``data`` (named ``source`` in errors) to RGB.

    Raises :class:`MediaError` for anything that is not a decodable image within limits.
    Animated GIF/WebP/APNG give their first frame.
    """
    if not data:
        raise MediaError(source, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = open_image(data)
            width, height = im.size
            if width <= 0 or height <= 0:
                raise MediaError(source, f"invalid image size {width}x{height}")
            if width * height > max_pixels:
                raise MediaError(
                    source,
                    f"image is {width}x{height} = {width * height} pixels, over the limit of "
                    f"{max_pixels} (possible decompression bomb)",
                )
            frames = int(getattr(im, "n_frames", 1) or 1)
            fmt = im.format  # before any conversion (converted images have no format)
            orientation = 1
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except Exception:  # noqa: BLE001 - broken EXIF only loses orientation
                orientation = 1
            if orientation in _SWAPPING_ORIENTATIONS:
                width, height = height, width
            if draft_min_side and im.format == "JPEG":
                im.draft("RGB", (draft_min_side, draft_min_side))
            im.load()
            im = _reduced(im, draft_min_side)
            im = ImageOps.exif_transpose(im) or im
            if im.mode != "RGB":
                im = _to_rgb(im)
            rgb = np.asarray(im, dtype=np.uint8)
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError(source, unsupported_reason(data[:64])) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(source, f"over the pixel limit (possible decompression bomb): {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError, struct.error) as exc:
        reason = str(exc) or type(exc).__name__
        raise MediaError(source, f"corrupt or truncated image: {reason}") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise MediaError(source, f"unexpected decoded shape {rgb.shape}")
    return DecodedImage(rgb=rgb, width=width, height=height, format=fmt, frames=frames)


def _reduced(im: Image.Image, min_side: int | None) -> Image.Image:
    """``im`` box-reduced by the integer factor that brings it to about
    :data:`REDUCE_ABOVE_PIXELS`, never below ``min_side`` on its short side; ``im`` itself when it
    is not that large or ``min_side`` is None (the caller wants full resolution)."""
    pixels = im.width * im.height
    if min_side is None or pixels <= REDUCE_ABOVE_PIXELS:
        return im
    factor = min(math.ceil(math.sqrt(pixels / REDUCE_ABOVE_PIXELS)), min(im.size) // min_side)
    if factor < 2:
        return im
    if im.mode not in ("L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr"):
        im = _to_rgb(im)  # palette and 16-bit images: to RGB first (reduce() does not take them)
    return im.reduce(factor)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any mode to RGB; transparent areas become white, as most viewers show them."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = float(arr.max()) or 1.0
        return Image.fromarray((arr * (255.0 / top)).astype(np.uint8), "L").convert("RGB")
    return im.convert("RGB")
