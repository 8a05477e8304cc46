"""Image decoding wrapper (decompression bombs, truncation, odd modes)."""
import atheris

with atheris.instrument_imports():
    from haechi.errors import HaechiError
    from haechi.media import decode_image, sniff_media_type

import contextlib

from _common import run


def one(data: bytes) -> None:
    sniff_media_type(data[:64])
    with contextlib.suppress(HaechiError):
        decode_image(data, "fuzz", max_pixels=4_000_000)


if __name__ == "__main__":
    run(one)
