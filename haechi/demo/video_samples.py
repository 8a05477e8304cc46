"""Generated test videos (PyAV encodes numpy frames), so no video data is ever committed.

A clip is a sequence of shots; each shot pans slowly across one generated scene, as hand-held
footage does. The copy transforms are what re-uploads do to a video: re-encode at another
size/bitrate, cut an excerpt, add a border or a caption, mirror it, or grab a still frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from haechi.demo.samples import scene

Frame = np.ndarray
FrameOp = Callable[[Frame], Frame]


def clip_frames(seed: int, seconds: float, size: tuple[int, int] = (320, 240), fps: int = 15,
                shot_s: float = 4.0) -> Iterator[tuple[float, Frame]]:
    """(time, RGB frame) of a generated clip: shots of ``shot_s`` seconds from a fixed camera,
    each a generated scene with a subject (a shape) moving slowly across it."""
    w, h = size
    rng = np.random.default_rng(seed)
    shots: dict[int, tuple[Image.Image, tuple[int, int, int]]] = {}
    for i in range(int(round(seconds * fps))):
        t = i / fps
        shot = int(t // shot_s)
        if shot not in shots:
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shots[shot] = (scene(seed * 1000 + shot, (w, h)), colour)  # type: ignore[assignment]
        background, colour = shots[shot]
        pan = (t - shot * shot_s) / shot_s  # 0..1 across the shot
        im = background.copy()
        x = int(w * (0.2 + 0.3 * pan))
        ImageDraw.Draw(im).ellipse((x, h // 3, x + w // 6, h // 3 + h // 3), fill=colour, outline=(0, 0, 0))
        yield t, np.asarray(im)


def write_video(path: str | Path, frames: Iterator[tuple[float, Frame]], fps: int = 15,
                codec: str = "libx264", bitrate: int | None = None, op: FrameOp | None = None,
                start_s: float = 0.0, end_s: float | None = None) -> Path:
    """Encode frames (optionally transformed, optionally only [start_s, end_s)) to ``path``."""
    import av

    path = Path(path)
    container = av.open(str(path), "w")
    stream: Any = None
    try:
        for t, frame in frames:
            if t < start_s - 1e-9 or (end_s is not None and t >= end_s - 1e-9):
                continue
            if op is not None:
                frame = op(frame)
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.height, stream.width = frame.shape[0] - frame.shape[0] % 2, frame.shape[1] - frame.shape[1] % 2
                stream.pix_fmt = "yuv420p"
                if bitrate:
                    stream.bit_rate = bitrate
            frame = frame[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        container.close()
    return path


def resize(size: tuple[int, int]) -> FrameOp:
    return lambda f: np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR))


def border(px: int, colour: tuple[int, int, int] = (0, 0, 0)) -> FrameOp:
    def op(f: Frame) -> Frame:
        h, w = f.shape[:2]
        out = np.empty((h + 2 * px, w + 2 * px, 3), np.uint8)
        out[:] = colour
        out[px : px + h, px : px + w] = f
        return out

    return op


def caption(text: str = "LEAKED 2026") -> FrameOp:
    def op(f: Frame) -> Frame:
        im = Image.fromarray(f)
        d = ImageDraw.Draw(im)
        h = im.height
        d.rectangle((0, h - h // 8, im.width, h), fill=(0, 0, 0))
        d.text((8, h - h // 8 + 4), text, fill=(255, 255, 255))
        return np.asarray(im)

    return op


def mirror(f: Frame) -> Frame:
    return np.ascontiguousarray(f[:, ::-1])


def still(seed: int, t: float, size: tuple[int, int] = (320, 240), fps: int = 15) -> Image.Image:
    """The frame of clip ``seed`` at time ``t`` as an image (a thumbnail or screenshot)."""
    for ft, frame in clip_frames(seed, t + 1, size, fps):
        if ft >= t - 1e-9:
            return Image.fromarray(frame)
    raise ValueError(f"no frame at {t}")
