"""Zip/tar extraction: traversal, bombs, broken headers."""
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from haechi.sources.files import Limits, iter_media

from _common import run

LIMITS = Limits(max_file_bytes=2_000_000, max_archive_bytes=8_000_000, max_compression_ratio=100)


def one(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("x.zip", "x.tar"):
            p = Path(tmp) / name
            p.write_bytes(data)
            for ref in iter_media([p], LIMITS):
                assert ref.error is not None or ref.data is not None or ref.file is not None


if __name__ == "__main__":
    run(one)
