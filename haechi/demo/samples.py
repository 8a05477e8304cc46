"""Generated, photo-like sample images, so the demo needs no data from outside the repository.

Each image is a seeded random scene — sky and ground gradients, hills, overlapping shapes and
fine texture — rich enough in structure for PDQ (quality well above 50) and local features.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    y = np.linspace(0, 1, h)[:, None]
    sky = np.array(rng.integers(60, 255, 3), dtype=np.float32)
    ground = np.array(rng.integers(0, 160, 3), dtype=np.float32)
    img = (sky * (1 - y) + ground * y)[:, :, None].repeat(1, 2)
    arr = np.broadcast_to(img.reshape(h, 1, 3), (h, w, 3)).copy()
    xs = np.arange(w)
    for _ in range(3):
        amp, freq, phase = rng.uniform(10, 60), rng.uniform(1, 6), rng.uniform(0, 2 * math.pi)
        base = rng.uniform(0.4, 0.8) * h
        ridge = base + amp * np.sin(xs / w * freq * 2 * math.pi + phase)
        mask = np.arange(h)[:, None] > ridge[None, :]
        arr[mask] = arr[mask] * 0.5 + rng.integers(0, 200, 3) * 0.5
    im = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(25, 45))):
        x0, y0 = int(rng.integers(-50, w)), int(rng.integers(-50, h))
        x1, y1 = x0 + int(rng.integers(15, w // 3)), y0 + int(rng.integers(15, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour, outline=(0, 0, 0))
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    noise = rng.normal(0, 6, (h, w, 3))
    return Image.fromarray((np.asarray(im, dtype=np.float32) + noise).clip(0, 255).astype(np.uint8))


def smooth_scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A smooth, low-texture, skin-like image: a softly shaded skin-toned body shape over a plain
    dim background, a few blurred folds and shadows, faint camera noise — few corners, the hard
    case for keypoint matching (issue #20)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    skin = np.array([rng.uniform(180, 235), rng.uniform(125, 175), rng.uniform(100, 145)], np.float32)
    back = np.array(rng.uniform(30, 110, 3), np.float32)
    body = Image.new("L", size, 0)
    draw = ImageDraw.Draw(body)
    for _ in range(int(rng.integers(3, 6))):  # overlapping limbs and torso
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        rx, ry = rng.uniform(0.08, 0.3) * w, rng.uniform(0.1, 0.45) * h
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    mask = np.asarray(body.filter(ImageFilter.GaussianBlur(2.5)), np.float32)[:, :, None] / 255.0
    shade = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(4, 8))):  # broad soft lobes: light on curved skin
        cx, cy = rng.uniform(0, 1) * w, rng.uniform(0, 1) * h
        sx, sy = rng.uniform(0.08, 0.3) * w, rng.uniform(0.08, 0.3) * h
        shade += rng.uniform(-70, 50) * np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)
    skin_px = skin[None, None, :] * (1 + shade[:, :, None] / 255.0)
    back_px = back[None, None, :] * (1 + 0.3 * yy[:, :, None] / h)
    arr = mask * skin_px + (1 - mask) * back_px
    noise = rng.normal(0, 1.5, (h, w, 3))
    return Image.fromarray((arr + noise).clip(0, 255).astype(np.uint8))


def smooth_like(im: Image.Image) -> Image.Image:
    """A real photo made smooth and skin-toned (the bench's low-texture family): its layout kept,
    its fine texture gone — heavy blur, skin palette, faint noise."""
    small = im.convert("L").resize((max(8, im.width // 12), max(8, im.height // 12)), Image.Resampling.BOX)
    soft = np.asarray(small.resize(im.size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3)),
                      np.float32) / 255.0
    low, high = np.array([110, 70, 55], np.float32), np.array([240, 196, 170], np.float32)
    arr = low + soft[:, :, None] * (high - low)
    noise = np.random.default_rng(im.width * 7919 + im.height).normal(0, 1.5, arr.shape)
    return Image.fromarray((arr + noise).clip(0, 255).astype(np.uint8))


def stereo_views(seed: int, size: tuple[int, int] = (640, 480)) -> tuple[Image.Image, Image.Image]:
    """Two views of one generated 3-D-ish scene, a step apart (a stereo pair, a burst with a
    moving camera): a far plane that moves 2 px between the views and six textured objects in
    front of it, each moved by its own disparity (4–28 px, nearer moves more). Different photos
    that share most pixels: a crop of the second view must never be a ``copy`` of the first."""
    rng = np.random.default_rng(seed)
    width, height = size
    far = scene(seed, (width + 80, height))
    objects = []
    for k in range(6):
        w, h = int(rng.integers(90, 200)), int(rng.integers(90, 200))
        mask = Image.new("L", (w, h), 0)
        if k % 2:
            ImageDraw.Draw(mask).ellipse((0, 0, w - 1, h - 1), fill=255)
        else:
            ImageDraw.Draw(mask).rectangle((0, 0, w - 1, h - 1), fill=255)
        texture = scene(seed * 10 + k + 1, (200, 200)).resize((w, h))
        objects.append((texture, mask, int(rng.integers(40, width)), int(rng.integers(0, height - 60)),
                        float(rng.uniform(4, 28))))
    views = []
    for eye in (0, 1):
        view = far.crop((40 - eye * 2, 0, 40 - eye * 2 + width, height))
        for texture, mask, x, y, disparity in objects:
            view.paste(texture, (int(x - eye * disparity), y), mask)
        views.append(view)
    return views[0], views[1]
