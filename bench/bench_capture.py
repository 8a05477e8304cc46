"""Capture throughput: pages/s captured as evidence (WARC + media scan + custody entry), with and
without full-page screenshots, from a local test server.

    python bench/bench_capture.py [--pages 40] [--images 5] [--only-screenshot] [--json out.json]

With screenshots, every browser connection goes through the egress proxy
(:mod:`haechi.evidence.egress`); ``bench/capture_egress.md`` compares it with the code before
the proxy (the same script run on both trees, ``--json`` rows side by side).
"""

from __future__ import annotations

import argparse
import io
import json
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
    ap.add_argument("--only-screenshot", action="store_true", help="skip the run without screenshots")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--render-only", action="store_true",
                    help="time only the browser (Screenshotter.render per page, median), not the capture")
    args = ap.parse_args()
    rows_out: list[dict[str, object]] = []
    for i in range(args.pages):
        imgs = "".join(f'<img src="/img/{i}_{k}.jpg">' for k in range(args.images))
        ROUTES[f"/p/{i}.html"] = ("text/html", f"<html><body><h1>thread {i}</h1>{imgs}</body></html>".encode())
        for k in range(args.images):
            buf = io.BytesIO()
            scene(i * 100 + k, (800, 600)).save(buf, "JPEG", quality=85)
            ROUTES[f"/img/{i}_{k}.jpg"] = ("image/jpeg", buf.getvalue())
    with serve(ROUTES) as base:
        if args.render_only:
            return _render_only(base, args.pages, args.json)
        table = Table("mode", "pages", "images", "seconds", "pages/s", "s/page",
                      title="Evidence capture from a local server (WARC + media hash/scan + custody log)")
        for screenshot in (True,) if args.only_screenshot else (False, True):
            with tempfile.TemporaryDirectory() as home, Haechi(home=home) as h:
                h.create_bank("b")
                urls = [f"{base}/p/{i}.html" for i in range(args.pages)]
                t0 = time.perf_counter()
                rows = list(h.capture(urls, screenshot=screenshot, allow_private=True))
                secs = time.perf_counter() - t0
                assert all(r["error"] is None and not r.get("screenshot_error") for r in rows), rows
            table.add_row("with screenshot" if screenshot else "no screenshot", str(len(rows)),
                          str(sum(len(r["media"]) for r in rows)), f"{secs:.1f}", f"{len(rows) / secs:.2f}",
                          f"{secs / len(rows):.2f}")
            rows_out.append({"screenshot": screenshot, "pages": len(rows), "seconds": round(secs, 2),
                             "s_per_page": round(secs / len(rows), 3)})
        Console().print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows_out, fh, indent=1)
    return 0


def _render_only(base: str, pages: int, out: str | None) -> int:
    """The browser's share alone (start-up apart): what the egress proxy can slow down."""
    import statistics

    from haechi.evidence.capture import Screenshotter
    from haechi.sources.web import FetchLimits

    t0 = time.perf_counter()
    with Screenshotter(FetchLimits(allow_private=True)) as shooter:
        started = time.perf_counter() - t0
        times = []
        for i in range(pages):
            t = time.perf_counter()
            shot = shooter.render(f"{base}/p/{i}.html")
            times.append(time.perf_counter() - t)
            assert shot.png.startswith(b"\x89PNG") and len(shot.media) == len(ROUTES) // pages - 1, shot.media
    row = {"browser_start_s": round(started, 2), "renders": pages,
           "median_render_s": round(statistics.median(times), 3), "min_render_s": round(min(times), 3)}
    print(json.dumps(row))
    if out:
        with open(out, "w") as fh:
            json.dump([row], fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
