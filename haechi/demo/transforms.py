"""How copies of an image spread online, as reproducible transforms.

Each family is what the matching goal is measured on: resize, re-compression, brightness,
blur, crops (centred and off-centre), borders/letterboxes/padding, small rotations,
screenshots (the image inside a page, rescaled), captions, and the 8 rotations/mirrors.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

Transform = Callable[[Image.Image, random.Random], Image.Image]


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def resize(im: Image.Image, rng: random.Random) -> Image.Image:
    f = rng.uniform(0.3, 0.7)
    return im.resize((max(8, int(im.width * f)), max(8, int(im.height * f))), Image.Resampling.BILINEAR)


def recompress(im: Image.Image, rng: random.Random) -> Image.Image:
    return _jpeg(im, rng.randint(15, 40))


def brighten(im: Image.Image, rng: random.Random) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(rng.uniform(1.2, 1.4))


def blur(im: Image.Image, rng: random.Random) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.5)))


def crop_centre(im: Image.Image, rng: random.Random) -> Image.Image:
    f = rng.uniform(0.05, 0.20)
    dx, dy = int(im.width * f / 2), int(im.height * f / 2)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def crop_offcentre(im: Image.Image, rng: random.Random) -> Image.Image:
    f = rng.uniform(0.05, 0.20)
    w, h = int(im.width * (1 - f)), int(im.height * (1 - f))
    corner = rng.choice([(0, 0), (im.width - w, 0), (0, im.height - h), (im.width - w, im.height - h)])
    return im.crop((corner[0], corner[1], corner[0] + w, corner[1] + h))


def border(im: Image.Image, rng: random.Random) -> Image.Image:
    pad = int(min(im.size) * rng.uniform(0.05, 0.2))
    colour = rng.choice([(0, 0, 0), (255, 255, 255), (30, 30, 30), (200, 40, 40)])
    return ImageOps.expand(im, border=pad, fill=colour)


def letterbox(im: Image.Image, rng: random.Random) -> Image.Image:
    """Fit into a 16:9 (landscape) or 9:16 (portrait) black frame, like a video platform."""
    target = (1280, 720) if rng.random() < 0.5 else (720, 1280)
    return ImageOps.pad(im, target, color=(0, 0, 0))


def rotate_small(im: Image.Image, rng: random.Random) -> Image.Image:
    angle = rng.uniform(2, 5) * rng.choice([-1, 1])
    return im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))


def screenshot(im: Image.Image, rng: random.Random) -> Image.Image:
    """The image shown inside a chat/forum page with text around it, rescaled."""
    page = Image.new("RGB", (1080, 1920) if rng.random() < 0.5 else (1440, 900), (245, 245, 245))
    draw = ImageDraw.Draw(page)
    for y in range(20, page.height, 60):
        draw.rectangle((20, y, 20 + rng.randint(200, page.width - 40), y + 22), fill=(60, 60, 60))
    scale = rng.uniform(0.45, 0.8) * min(page.width / im.width, page.height / im.height)
    shown = im.resize((max(8, int(im.width * scale)), max(8, int(im.height * scale))))
    x = rng.randint(0, page.width - shown.width)
    y = rng.randint(0, page.height - shown.height)
    page.paste(shown, (x, y))
    final = rng.uniform(0.5, 0.8)
    return _jpeg(page.resize((int(page.width * final), int(page.height * final))), 85)


def caption(im: Image.Image, rng: random.Random) -> Image.Image:
    """A meme-style caption bar added above or below the image."""
    bar = int(im.height * rng.uniform(0.12, 0.25))
    out = Image.new("RGB", (im.width, im.height + bar), (255, 255, 255))
    top = rng.random() < 0.5
    out.paste(im, (0, bar if top else 0))
    draw = ImageDraw.Draw(out)
    y0 = 0 if top else im.height
    for i in range(3):
        x = 10 + i * im.width // 3
        draw.rectangle((x, y0 + bar // 3, x + im.width // 4, y0 + bar // 3 + max(4, bar // 4)), fill=(0, 0, 0))
    return out


def _dihedral(op: Image.Transpose) -> Transform:
    return lambda im, rng: im.transpose(op)


T = Image.Transpose
FAMILIES: dict[str, Transform] = {
    "resize": resize,
    "recompress": recompress,
    "brighten": brighten,
    "blur": blur,
    "rot90": _dihedral(T.ROTATE_90),
    "rot180": _dihedral(T.ROTATE_180),
    "flip_h": _dihedral(T.FLIP_LEFT_RIGHT),
    "transpose": _dihedral(T.TRANSPOSE),
    "crop_centre": crop_centre,
    "crop_offcentre": crop_offcentre,
    "border": border,
    "letterbox": letterbox,
    "rotate_small": rotate_small,
    "screenshot": screenshot,
    "caption": caption,
}
#: families that plain PDQ (with dihedral variants) already handles
PDQ_FAMILIES = ("resize", "recompress", "brighten", "blur", "rot90", "rot180", "flip_h", "transpose")


def make_copy(im: Image.Image, family: str, seed: int) -> Image.Image:
    """A copy of ``im`` made by ``family``, saved and reloaded as JPEG like a re-upload."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test copies, not security
    return _jpeg(FAMILIES[family](im.convert("RGB"), rng), 90)
