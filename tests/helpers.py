"""Small generators shared by the tests."""

from __future__ import annotations

import io

from haechi.demo.samples import scene
from haechi.demo.transforms import make_copy


def scene_jpeg(seed: int, family: str | None = None) -> bytes:
    """JPEG bytes of generated scene ``seed``, optionally as a copy made by ``family``."""
    im = scene(seed)
    if family:
        im = make_copy(im, family, seed=seed)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()

