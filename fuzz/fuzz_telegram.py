"""Telegram Desktop HTML exports (messages*.html, the default format): the page parser and the
item builder. The input is one chat page; a photo and a thumbnail exist beside it so media
links resolve. Typed errors are expected; anything else escaping is a finding."""
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from haechi.errors import HaechiError
    from haechi.sources import exports, telegram, warc  # noqa: F401 - instrumented (imported lazily by exports)

import contextlib

from _common import run

_JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")


def one(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        (root / "photos" / "photo_1.jpg").write_bytes(_JPEG)
        (root / "photos" / "photo_1_thumb.jpg").write_bytes(_JPEG)
        half = len(data) // 2
        (root / "messages.html").write_bytes(data[:half])
        (root / "messages2.html").write_bytes(data[half:])
        with contextlib.suppress(HaechiError):
            found = exports.telegram(root, 1_000_000)
            for item in found.items:  # every item either names a file inside the export or says why not
                assert (item.ref.file is None) != (item.ref.error is None)
                if item.ref.file is not None:
                    assert Path(item.ref.file).resolve().is_relative_to(root.resolve())


if __name__ == "__main__":
    run(one)
