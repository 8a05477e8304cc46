"""Telegram Desktop result.json and WARC/WACZ readers."""
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from haechi.errors import HaechiError
    from haechi.sources import exports, telegram, warc  # noqa: F401 - instrumented (imported lazily by exports)

import contextlib

from _common import run


def one(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "result.json").write_bytes(data)
        with contextlib.suppress(HaechiError):
            exports.telegram(root, 1_000_000)
        (root / "a.warc").write_bytes(data)
        # damage is reported in the result; only a whole-file gzip is a typed error
        with contextlib.suppress(HaechiError):
            exports.warc(root / "a.warc", 1_000_000)


if __name__ == "__main__":
    run(one)
