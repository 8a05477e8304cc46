"""Reviewer-safe previews of captured media, and the content type to serve media under.

Why server-side: a reviewer of intimate imagery is protected only if the browser never receives
the original bytes before she asks for them (a CSS blur is one "inspect element" away from the
original, and it is still downloaded and cached). So the preview is made here: greyscale, at
most ``max_side`` pixels, with a Gaussian blur whose radius grows with the image (1/25 of the
long side, at least 8 px) — enough to see that something is there and roughly its layout, not
who or what. A video (or an animated GIF/WebP) gives the preview of its first frame: the queue
never sends a playable video before a reveal.

The content type of an original is sniffed from its bytes with :func:`sniff_media_type`, never
taken from the remote server's header (which the uploader controls).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageFilter

from haechi.errors import MediaError
from haechi.media.decode import sniff_media_type
from haechi.media.formats import open_image

#: previews are never larger than this (pixels, long side)
PREVIEW_SIDE = 480
#: the decoder limits for a preview's first frame (a preview is one frame, never more)
_MAX_PIXELS = 80_000_000


def is_video(data: bytes) -> bool:
    """A video container, or an animated image (shown to a reviewer as a video, muted)."""
    from haechi.media.video import is_animated_image

    return sniff_media_type(data[:64]) == "video" or is_animated_image(data)


def _first_frame(data: bytes, source: str) -> Image.Image:
    from haechi.media.video import VideoInfo, VideoLimits, iter_frames

    limits = VideoLimits(max_pixels=_MAX_PIXELS, max_frames=1, max_decoded_frames=500)
    for frame in iter_frames(io.BytesIO(data), source, limits, VideoInfo(), data=data):
        return Image.fromarray(frame.rgb)
    raise MediaError(source, "video has no decodable frame")


def blurred(data: bytes, max_side: int = PREVIEW_SIDE, source: str = "media") -> bytes:
    """Greyscale, heavily blurred JPEG preview of an image, or of a video's first frame.

    Raises :class:`MediaError` (naming ``source``) for bytes that are neither.
    """
    try:
        if is_video(data):
            src = _first_frame(data, source)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                src = open_image(data)
                if src.width * src.height > _MAX_PIXELS:
                    raise MediaError(source, f"image over {_MAX_PIXELS} pixels")
                src.load()
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow/PyAV raise many types for undecodable bytes
        raise MediaError(source, f"no preview: {type(exc).__name__}") from None
    src.thumbnail((max_side, max_side))
    im = src.convert("L").filter(ImageFilter.GaussianBlur(max(8, max(src.size) // 25)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def content_type(data: bytes) -> str:
    """The MIME type to serve captured media under, from its bytes: WebM/MP4 for video
    containers, image/gif or image/webp for animations, ``image/<format>`` for stills, and
    ``application/octet-stream`` (which a browser will not render) for anything else."""
    kind = sniff_media_type(data)  # the whole file: Pillow reads only the header it needs
    if kind == "video":
        return "video/webm" if data[:4] == b"\x1a\x45\xdf\xa3" else "video/mp4"
    if kind == "image":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fmt = open_image(data).format
        except Exception:  # noqa: BLE001 - identified from the head but not openable in full
            fmt = None
        if fmt:
            return f"image/{fmt.lower()}"
    return "application/octet-stream"
