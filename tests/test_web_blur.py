"""Server-side previews (haechi.media.blur): strong blur, greyscale, small; typed errors for
bytes that are not media; content types sniffed from the bytes, never from a remote header."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from haechi.demo.samples import scene
from haechi.errors import MediaError
from haechi.media.blur import blurred, content_type, is_video


def _bytes(fmt: str, size: tuple[int, int] = (1200, 900)) -> bytes:
    buf = io.BytesIO()
    scene(5).resize(size).save(buf, fmt)
    return buf.getvalue()


def test_preview_is_small_grey_and_loses_the_detail() -> None:
    data = _bytes("JPEG")
    im = Image.open(io.BytesIO(blurred(data)))
    assert im.mode == "L" and max(im.size) == 480
    original = np.asarray(scene(5).resize(im.size).convert("L"), dtype=float)
    preview = np.asarray(im, dtype=float)
    # the fine detail (pixel-to-pixel change) is gone: under a tenth of the original's
    detail = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert detail(preview) < detail(original) / 10


def test_not_media_is_a_media_error_naming_the_source() -> None:
    with pytest.raises(MediaError, match="item 7"):
        blurred(b"<html>not an image</html>", source="item 7")


def test_content_type_comes_from_the_bytes() -> None:
    from tests.test_web import _tiny_webm

    webm = _tiny_webm()
    assert content_type(_bytes("JPEG")) == "image/jpeg" and content_type(_bytes("PNG")) == "image/png"
    assert content_type(webm) == "video/webm" and is_video(webm) and not is_video(_bytes("PNG"))
    assert content_type(b"<script>alert(1)</script>") == "application/octet-stream"
    assert Image.open(io.BytesIO(blurred(webm))).mode == "L"  # a video's first frame
