"""Synthetic-media assessment speed: files/s for each detector on 1024-px JPEGs.

    python bench/bench_assess.py [--images 40]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

from rich.console import Console
from rich.table import Table

from haechi.assess import DETECTORS
from haechi.assess.base import Media
from haechi.demo.samples import scene
from haechi.media import decode_image


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    args = ap.parse_args()
    media = []
    for i in range(args.images):
        buf = io.BytesIO()
        scene(90_000 + i, (1024, 768)).save(buf, "JPEG", quality=90)
        data = buf.getvalue()
        img = decode_image(data, f"{i}.jpg", max_pixels=10**8, draft_min_side=None)
        media.append(Media(f"{i}.jpg", data, "image", img.rgb, img.format))
    table = Table("detector", "files", "seconds", "files/s", "ms/file",
                  title=f"Assessment detectors on {args.images} generated 1024x768 JPEGs (one core)")
    total = 0.0
    for det in DETECTORS:
        det.run(media[0])  # warm up (imports, libraries)
        t0 = time.perf_counter()
        for m in media:
            det.run(m)
        secs = time.perf_counter() - t0
        total += secs
        table.add_row(det.name, str(len(media)), f"{secs:.2f}", f"{len(media) / secs:.1f}",
                      f"{1000 * secs / len(media):.1f}")
    table.add_row("all", str(len(media)), f"{total:.2f}", f"{len(media) / total:.1f}",
                  f"{1000 * total / len(media):.1f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
