"""How copies of an image spread online, as reproducible transforms.

Each family is what the matching goal is measured on: resize, re-compression, brightness,
blur, crops (centred and off-centre), borders/letterboxes/padding, small rotations,
screenshots (the image inside a page, rescaled), captions, and the 8 rotations/mirrors.
``COMPOSITE_FAMILIES`` are the harder ones of issue #20: album tiles, phone screenshots with chat
UI, meme text over the image, heavy and strip crops. ``CAPTURE_FAMILIES``: the image photographed
off a screen at an angle (keystone perspective).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

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
    return _jpeg(ALL_FAMILIES[family](im.convert("RGB"), rng), 90)


# -- composites and overlays (issue #20, part 2) ---------------------------------------------------
# Harder families: the banked image is a small part of what is scanned, or big text covers it.
# Fillers and chat UI are generated (scenes, grey text bars), never other photos.

def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A bold sans font (DejaVu Sans Bold when installed, else Pillow's bundled font)."""
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "LiberationSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _filler(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    from haechi.demo.samples import scene

    return scene(rng.randint(500_000, 900_000), (320, 240)).resize(size, Image.Resampling.BILINEAR)


def _cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop ``im`` to fill ``size`` (how chat apps make album thumbnails)."""
    return ImageOps.fit(im, size, Image.Resampling.BILINEAR)


def album_tile(im: Image.Image, rng: random.Random) -> Image.Image:
    """A chat album / collage: a 2×2 or 3×3 grid of thumbnails with thin gutters, one of them the
    image, centre-cropped to its cell, each tile about a quarter of the image's long side."""
    cols = rng.choice([2, 3])
    rows = rng.choice([2, 3])
    tile = max(64, int(max(im.size) * rng.uniform(0.22, 0.3)))
    gap = rng.randint(2, 6)
    cell_h = tile if cols == 3 else int(tile * rng.uniform(0.75, 1.0))
    bg = rng.choice([(255, 255, 255), (0, 0, 0), (235, 236, 240), (28, 28, 30)])
    out = Image.new("RGB", (cols * tile + (cols + 1) * gap, rows * cell_h + (rows + 1) * gap), bg)
    target = (rng.randrange(rows), rng.randrange(cols))
    for r in range(rows):
        for c in range(cols):
            part = _cover(im, (tile, cell_h)) if (r, c) == target else _filler(rng, (tile, cell_h))
            out.paste(part, (gap + c * (tile + gap), gap + r * (cell_h + gap)))
    return _jpeg(out, rng.randint(70, 85))


def phone_screenshot(im: Image.Image, rng: random.Random) -> Image.Image:
    """A phone screenshot of a chat: status bar, header, text bubbles, the image in a bubble,
    the input bar; then the screenshot is shared at a smaller size."""
    w, h = 1080, rng.choice([1920, 2340])
    dark = rng.random() < 0.4
    bg = (18, 18, 20) if dark else rng.choice([(255, 255, 255), (178, 199, 218), (236, 229, 221)])
    ink = (235, 235, 235) if dark else (20, 20, 20)
    page = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(page)
    small, body = _font(34), _font(40)
    draw.rectangle((0, 0, w, 80), fill=(0, 0, 0) if dark else (250, 250, 250))
    draw.text((40, 18), f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}", fill=ink, font=small)
    draw.rectangle((0, 80, w, 220), fill=(30, 30, 34) if dark else (245, 245, 247))
    draw.text((140, 125), "Chat", fill=ink, font=body)
    bubble = (60, 60, 66) if dark else rng.choice([(255, 235, 51), (220, 248, 198), (255, 255, 255)])
    words = ["hey", "look", "at", "this", "lol", "what", "is", "that", "send", "more", "ok", "haha"]
    y = 250
    shown_w = int(w * rng.uniform(0.6, 0.75))
    shown = im.resize((shown_w, max(8, int(im.height * shown_w / im.width))), Image.Resampling.BILINEAR)
    image_at = rng.randint(0, 2)
    for k in range(4):
        if k == image_at and y + shown.height + 40 < h - 200:
            x = rng.choice([40, w - shown.width - 60])
            draw.rounded_rectangle((x - 12, y - 12, x + shown.width + 12, y + shown.height + 12), 24, fill=bubble)
            page.paste(shown, (x, y))
            y += shown.height + 60
            continue
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
        tw = int(draw.textlength(text, font=body)) + 60
        x = rng.choice([40, w - tw - 40])
        if y + 100 > h - 200:
            break
        draw.rounded_rectangle((x, y, x + tw, y + 80), 30, fill=bubble)
        draw.text((x + 30, y + 18), text, fill=ink, font=body)
        y += 120
    draw.rectangle((0, h - 160, w, h), fill=(30, 30, 34) if dark else (250, 250, 250))
    draw.rounded_rectangle((40, h - 130, w - 160, h - 40), 40, outline=(128, 128, 128), width=3)
    final = rng.uniform(0.5, 0.75)
    return _jpeg(page.resize((int(w * final), int(h * final)), Image.Resampling.BILINEAR), rng.randint(70, 88))


def meme_text(im: Image.Image, rng: random.Random) -> Image.Image:
    """Big white meme text with a black outline over the top and bottom of the image."""
    out = im.copy()
    draw = ImageDraw.Draw(out)
    words = ["WHEN", "YOU", "SEE", "IT", "NOBODY", "EXPECTS", "THIS", "MONDAY", "MOOD", "ME", "EVERY", "TIME"]
    size = max(12, int(im.height * rng.uniform(0.11, 0.16)))
    font = _font(size)
    for where in ("top", "bottom"):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 4)))
        while draw.textlength(text, font=font) > im.width * 0.95 and " " in text:
            text = text.rsplit(" ", 1)[0]
        tw = draw.textlength(text, font=font)
        x = max(0, int((im.width - tw) / 2))
        y = int(im.height * 0.02) if where == "top" else int(im.height * 0.97) - size
        draw.text((x, y), text, fill=(255, 255, 255), font=font, stroke_width=max(2, size // 12),
                  stroke_fill=(0, 0, 0))
    return out


def crop_heavy(im: Image.Image, rng: random.Random) -> Image.Image:
    """Keep 40–55% of each side, anywhere in the image (a fifth to a third of its area)."""
    fw, fh = rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55)
    w, h = int(im.width * fw), int(im.height * fh)
    x, y = rng.randint(0, im.width - w), rng.randint(0, im.height - h)
    return im.crop((x, y, x + w, y + h))


def crop_strip(im: Image.Image, rng: random.Random) -> Image.Image:
    """A full-width (or full-height) strip of 30–40% of the image."""
    f = rng.uniform(0.3, 0.4)
    if rng.random() < 0.5:
        h = int(im.height * f)
        y = rng.randint(0, im.height - h)
        return im.crop((0, y, im.width, y + h))
    w = int(im.width * f)
    x = rng.randint(0, im.width - w)
    return im.crop((x, 0, x + w, im.height))


COMPOSITE_FAMILIES: dict[str, Transform] = {
    "album_tile": album_tile,
    "phone_screenshot": phone_screenshot,
    "meme_text": meme_text,
    "crop_heavy": crop_heavy,
    "crop_strip": crop_strip,
}


# -- captures (a phone held up to a screen) --------------------------------------------------------

def _perspective_coefficients(quad: list[tuple[float, float]], size: tuple[int, int]) -> list[float]:
    """PIL's 8 ``PERSPECTIVE`` coefficients (output pixel -> input pixel) that map the corners
    ``quad`` of the output (top-left, top-right, bottom-right, bottom-left) onto those of an input
    of ``size``."""
    import numpy as np

    w, h = size
    source = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(quad, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return [float(c) for c in np.linalg.solve(np.asarray(rows, np.float64), np.asarray(rhs, np.float64))]


def perspective(im: Image.Image, rng: random.Random) -> Image.Image:
    """The image photographed off a screen with a phone held at an angle: on a dark surround
    (bezel, room), one side nearer the camera (keystone: its two corners drawn in by 4–10% of the
    frame, the others by up to 1.5%), turned by up to 3°, slightly out of focus, a JPEG at q80."""
    w, h = im.size
    margin = int(max(w, h) * rng.uniform(0.05, 0.12))
    canvas_w, canvas_h = w + 2 * margin, h + 2 * margin
    corners = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    inward = [(1, 1), (-1, 1), (-1, -1), (1, -1)]  # the direction towards the inside per corner
    far_side = rng.randrange(4)  # top, right, bottom, left: the side farther from the camera
    keystone = rng.uniform(0.04, 0.10)
    quad = []
    for k, ((x, y), (sx, sy)) in enumerate(zip(corners, inward, strict=True)):
        # side i joins corners i and i + 1; its corners move along it (towards each other)
        along = keystone if k in (far_side, (far_side + 1) % 4) else rng.uniform(0.0, 0.015)
        across = rng.uniform(0.0, 0.015)
        if far_side in (0, 2):  # top or bottom side: its corners move horizontally
            dx, dy = along * w, across * h
        else:
            dx, dy = across * w, along * h
        quad.append((x + sx * dx, y + sy * dy))
    angle = math.radians(rng.uniform(-3.0, 3.0))
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = w / 2, h / 2
    placed = [(margin + cx + (x - cx) * cos - (y - cy) * sin, margin + cy + (x - cx) * sin + (y - cy) * cos)
              for x, y in quad]
    surround = rng.choice([(12, 12, 14), (30, 30, 32), (58, 52, 48)])
    shot = im.transform((canvas_w, canvas_h), Image.Transform.PERSPECTIVE,
                        _perspective_coefficients(placed, (w, h)), Image.Resampling.BICUBIC, fillcolor=surround)
    shot = shot.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0)))
    return _jpeg(shot, 80)


CAPTURE_FAMILIES: dict[str, Transform] = {"perspective": perspective}
ALL_FAMILIES: dict[str, Transform] = {**FAMILIES, **COMPOSITE_FAMILIES, **CAPTURE_FAMILIES}
