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
