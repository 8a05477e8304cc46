"""Capture throughput: pages/s captured as evidence (WARC + media scan + custody entry), with and
without full-page screenshots, from a local test server.

    python bench/bench_capture.py [--pages 40] [--images 5]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.site import serve

ROUTES: dict[str, tuple[str, bytes]] = {}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--images", type=int, default=5)
    args = ap.parse_args()
    for i in range(args.pages):
        imgs = "".join(f'<img src="/img/{i}_{k}.jpg">' for k in range(args.images))
        ROUTES[f"/p/{i}.html"] = ("text/html", f"<html><body><h1>thread {i}</h1>{imgs}</body></html>".encode())
        for k in range(args.images):
            buf = io.BytesIO()
            scene(i * 100 + k, (800, 600)).save(buf, "JPEG", quality=85)
            ROUTES[f"/img/{i}_{k}.jpg"] = ("image/jpeg", buf.getvalue())
    with serve(ROUTES) as base:
        table = Table("mode", "pages", "images", "seconds", "pages/s", "s/page",
                      title="Evidence capture from a local server (WARC + media hash/scan + custody log)")
        for screenshot in (False, True):
            with tempfile.TemporaryDirectory() as home, Haechi(home=home) as h:
                h.create_bank("b")
                urls = [f"{base}/p/{i}.html" for i in range(args.pages)]
                t0 = time.perf_counter()
                rows = list(h.capture(urls, screenshot=screenshot, allow_private=True))
                secs = time.perf_counter() - t0
                assert all(r["error"] is None for r in rows)
            table.add_row("with screenshot" if screenshot else "no screenshot", str(len(rows)),
                          str(sum(len(r["media"]) for r in rows)), f"{secs:.1f}", f"{len(rows) / secs:.2f}",
                          f"{secs / len(rows):.2f}")
        Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
