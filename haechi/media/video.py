"""Decode untrusted video (PyAV, FFmpeg bundled) and animated images (Pillow) into sampled frames.

Why one module: every video byte from the internet passes one sampler with one set of limits —
pixel cap per frame, a cap on hashed frames, a cap on decoded frames, and seeking instead of
decoding for long videos — so a 10-hour file or a hostile container costs bounded work.

Sampling follows vPDQ: one frame per ``seconds_per_hash`` (default 1 s), plus frames where the
picture changes abruptly (scene cuts), so short shots between samples are not missed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageSequence

from haechi.errors import MediaError
from haechi.media.formats import open_image

#: sampled frames are scaled so the short side is at most this: PDQ works on a 64x64
#: downsample, so 256 keeps 4x oversampling while hashing ~4x faster than at 512
FRAME_SHORT_SIDE = 256


@dataclass(frozen=True)
class VideoLimits:
    max_pixels: int
    seconds_per_hash: float = 1.0
    #: mean absolute luma change (0-255) on a 16x16 thumbnail that counts as a scene cut
    scene_threshold: float = 28.0
    #: at most this many frames are hashed; longer videos are sampled more sparsely
    max_frames: int = 3600
    #: decoding stops after this many frames (hostile frame counts, very long videos)
    max_decoded_frames: int = 200_000
    #: an animated image (GIF/WebP/APNG/AVIF/HEIF sequence) stops decoding after this many canvas
    #: pixels in all: every frame is composited on the whole canvas, so a 4.6 KB GIF of 200 one-pixel
    #: frames on a 3000x3000 canvas cost 32 s (6-11 ns a pixel); 1 G pixels is ~500 frames of
    #: 1080p, ~80 of a 12 MP live photo. Frames sampled before the cap are kept (``truncated``).
    max_decoded_pixels: int = 1_000_000_000
    #: videos longer than this (seconds) are sampled by seeking, not by decoding every frame
    seek_after_s: float = 1800.0
    #: sampled frames are scaled to this short side (larger when faces are searched too)
    short_side: int = FRAME_SHORT_SIDE


@dataclass(frozen=True)
class SampledFrame:
    number: int  # index among decoded frames (or seek position for seek sampling)
    t_s: float
    rgb: np.ndarray


@dataclass
class VideoInfo:
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    truncated: bool = False  # a cap stopped decoding before the end
    rotated: bool = False  # frames were turned upright by the display matrix


def is_animated_image(data: bytes) -> bool:
    """GIF/WebP/APNG/AVIF/HEIF with more than one frame: hashed as video, not as a still."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = open_image(data)
            return bool(getattr(im, "is_animated", False)) and int(getattr(im, "n_frames", 1)) > 1
    except Exception:  # noqa: BLE001 - not an image Pillow can open: not animated
        return False


def _scaled(width: int, height: int, side: int = FRAME_SHORT_SIDE) -> tuple[int, int]:
    short = min(width, height)
    if short <= side:
        return width, height
    f = side / short
    return max(1, round(width * f)), max(1, round(height * f))


def _thumb(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    ys = np.linspace(0, h - 1, 16).astype(int)
    xs = np.linspace(0, w - 1, 16).astype(int)
    return gray[np.ix_(ys, xs)].astype(np.float32)


class _Sampler:
    """Decides which decoded frames to hash: regular samples plus scene cuts."""

    def __init__(self, limits: VideoLimits) -> None:
        self.limits = limits
        self.next_t = 0.0
        self.prev_thumb: np.ndarray | None = None
        self.last_t = -1e9
        self.taken = 0

    def want(self, t: float, thumb: np.ndarray) -> bool:
        """Take a frame on schedule or at a cut; the schedule restarts at each cut, so a copy
        cut from the middle of a video samples the same instants as the original after its
        first cut (sampling phase is anchored to the content, not to the file's start)."""
        cut = (self.prev_thumb is not None and t - self.last_t >= 0.2
               and float(np.abs(thumb - self.prev_thumb).mean()) >= self.limits.scene_threshold)
        self.prev_thumb = thumb
        take = cut or t + 1e-6 >= self.next_t
        if take:
            self.next_t = t + self.limits.seconds_per_hash
            self.last_t = t
            self.taken += 1
        return take


def iter_frames(source: str | BinaryIO, name: str, limits: VideoLimits, info: VideoInfo,
                data: bytes | None = None) -> Iterator[SampledFrame]:
    """Sampled frames of the video at ``source`` (a path or file object) named ``name`` in errors.

    ``data`` (the file's bytes, when already in memory) lets animated GIF/WebP go through
    Pillow. Raises :class:`MediaError` for unreadable input; fills ``info`` as it goes.
    """
    if data is not None and is_animated_image(data):
        yield from _iter_animated(data, name, limits, info)
        return
    yield from _iter_av(source, name, limits, info)


def _iter_animated(data: bytes, name: str, limits: VideoLimits, info: VideoInfo) -> Iterator[SampledFrame]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = open_image(data)
            info.width, info.height = im.size
            if im.width * im.height > limits.max_pixels:
                raise MediaError(name, f"frame size {im.width}x{im.height} is over the pixel limit")
            sampler = _Sampler(limits)
            t = 0.0
            canvas = im.width * im.height
            for number, frame in enumerate(ImageSequence.Iterator(im)):
                if (number >= limits.max_decoded_frames or sampler.taken >= limits.max_frames
                        or (number + 1) * canvas > limits.max_decoded_pixels):
                    info.truncated = True
                    break
                rgb_im = frame.convert("RGB")
                gray = np.asarray(rgb_im.convert("L"))
                if sampler.want(t, _thumb(gray)):
                    w, h = _scaled(*rgb_im.size, limits.short_side)
                    yield SampledFrame(number, round(t, 3), np.asarray(rgb_im.resize((w, h))))
                t += max(int(frame.info.get("duration", 100) or 100), 10) / 1000.0
            info.duration_s = round(t, 3)
    except MediaError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise MediaError(name, f"corrupt animated image: {exc}") from None


def _luma(frame: Any) -> np.ndarray:
    """The luma plane without a colour conversion when the pixel format has one."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"):
        plane = frame.planes[0]
        arr = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return arr[:, : plane.width]
    return np.asarray(frame.to_ndarray(format="gray"))


def _iter_av(source: str | BinaryIO, name: str, limits: VideoLimits, info: VideoInfo) -> Iterator[SampledFrame]:
    import av  # PyAV: imported here so image-only work never loads FFmpeg

    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(name, f"not a readable video container: {exc}") from None
    try:
        if not container.streams.video:
            kinds: list[str] = sorted({str(s.type) for s in container.streams})
            if not kinds:
                raise MediaError(name, "no video stream: the file holds no streams (zero-length or empty video)")
            hint = "; audio-only file" if kinds == ["audio"] else ""
            raise MediaError(name, f"no video stream (streams: {', '.join(kinds)}{hint})")
        stream = container.streams.video[0]
        cc = stream.codec_context
        info.width, info.height = int(cc.width or 0), int(cc.height or 0)
        if info.width * info.height > limits.max_pixels:
            raise MediaError(name, f"frame size {info.width}x{info.height} is over the pixel limit "
                                   f"of {limits.max_pixels}")
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        info.duration_s = round(duration, 3) if duration is not None else None
        step = limits.seconds_per_hash
        if duration is not None and duration / step > limits.max_frames:
            step = duration / limits.max_frames  # bounded work: sample more sparsely
        eff = VideoLimits(**{**limits.__dict__, "seconds_per_hash": step})
        if duration is not None and duration > limits.seek_after_s:
            yield from _seek_sample(container, stream, eff, info, duration)
        else:
            yield from _decode_sample(container, stream, eff, info)
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, MemoryError) as exc:
        raise MediaError(name, f"corrupt or truncated video: {exc}") from None
    finally:
        container.close()


def _upright(frame: Any, rgb: np.ndarray, info: VideoInfo) -> np.ndarray:
    """The frame as a viewer shows it: phones store pixels sideways and say how to turn them in
    the display matrix (``frame.rotation``, degrees counter-clockwise). Faces are only found, and
    previews and assessments only make sense, the right way up; vPDQ would cope either way.
    Turning a video a quarter also swaps its displayed width and height."""
    try:
        quarters = round(float(getattr(frame, "rotation", 0) or 0) / 90) % 4
    except (TypeError, ValueError):
        quarters = 0
    if quarters == 0:
        return np.ascontiguousarray(rgb)
    if quarters % 2 and not info.rotated:
        info.width, info.height = info.height, info.width
    info.rotated = True
    return np.ascontiguousarray(np.rot90(rgb, k=quarters))


def _decode_sample(container: Any, stream: Any, limits: VideoLimits, info: VideoInfo) -> Iterator[SampledFrame]:
    # non-reference frames (most B-frames) are skipped: ~40% less decoding, and a sample lands
    # at most a frame or two from its instant, which PDQ does not notice
    stream.codec_context.skip_frame = "NONREF"
    sampler = _Sampler(limits)
    fps = float(stream.average_rate or 25)
    last_t = -1.0
    for number, frame in enumerate(container.decode(stream)):
        if number >= limits.max_decoded_frames or sampler.taken >= limits.max_frames:
            info.truncated = True
            break
        t = float(frame.time) if frame.time is not None else number / fps
        last_t = max(last_t, t)
        if sampler.want(t, _thumb(_luma(frame))):
            w, h = _scaled(frame.width, frame.height, limits.short_side)
            rgb = _upright(frame, frame.to_ndarray(format="rgb24", width=w, height=h), info)
            yield SampledFrame(number, round(t, 3), rgb)
    if info.duration_s is None and last_t >= 0:
        info.duration_s = round(last_t + 1 / fps, 3)


def _seek_sample(container: Any, stream: Any, limits: VideoLimits, info: VideoInfo,
                 duration: float) -> Iterator[SampledFrame]:
    """Long videos: seek to each sample time and decode one frame there (nearest keyframe)."""
    tb = float(stream.time_base)
    t = 0.0
    last: float | None = None
    count = 0
    while t < duration and count < limits.max_frames:
        container.seek(int(t / tb), stream=stream, backward=True, any_frame=False)
        frame = next(container.decode(stream), None)
        if frame is None:
            break
        ft = float(frame.time) if frame.time is not None else t
        if last is None or ft > last:
            w, h = _scaled(frame.width, frame.height, limits.short_side)
            yield SampledFrame(count, round(ft, 3),
                               _upright(frame, frame.to_ndarray(format="rgb24", width=w, height=h), info))
            last = ft
            count += 1
        t += limits.seconds_per_hash
