"""From a matched URL to an approval-ready notice with evidence captured: seconds per item.

    python bench/bench_notice.py [--items 100] [--screenshot/--no-screenshot]

Each item: capture the page (WARC, screenshot, media hashed and scanned against the bank,
custody entry), add it to the case, draft the notice (Korean regime, Korean text).
Anchor: Seoul's deletion-support team takes ~6 minutes per request with its tooling.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.demo.transforms import make_copy

ROUTES: dict[str, tuple[str, bytes]] = {}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--screenshot", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    buf = io.BytesIO()
    scene(4242, (800, 600)).save(buf, "JPEG", quality=90)
    original = buf.getvalue()
    for i in range(args.items):
        c = io.BytesIO()
        make_copy(scene(4242, (800, 600)), ["resize", "crop_centre", "recompress", "border"][i % 4], seed=i).save(
            c, "JPEG", quality=85)
        ROUTES[f"/img/{i}.jpg"] = ("image/jpeg", c.getvalue())
        ROUTES[f"/t/{i}"] = ("text/html", f'<html><h1>post {i}</h1><img src="/img/{i}.jpg"></html>'.encode())
    with serve(ROUTES) as base:
        times = []
        with tempfile.TemporaryDirectory() as home, Haechi(home=home) as h:
            h.create_bank("victim")
            with open(f"{home}/o.jpg", "wb") as fh:
                fh.write(original)
            list(h.add_to_bank("victim", [f"{home}/o.jpg"]))
            ref = h.create_case(victim_ref="V-BENCH")["case"]
            matched = 0
            for i in range(args.items):
                t0 = time.perf_counter()
                (item,) = list(h.add_case_items(ref, [f"{base}/t/{i}"], screenshot=args.screenshot, allow_private=True))
                h.draft_notice([item["id"]], "kr", "ko", recipient="abuse@host.example")
                times.append(time.perf_counter() - t0)
                matched += bool(item["media"] and item["media"][0]["matches"])
    table = Table("items", "screenshot", "matched", "median s/item", "p90 s/item", "total s", "vs 6 min",
                  title="Matched URL -> approval-ready notice with evidence captured")
    p90 = statistics.quantiles(times, n=10)[-1]
    table.add_row(str(len(times)), "yes" if args.screenshot else "no", str(matched), f"{statistics.median(times):.2f}",
                  f"{p90:.2f}", f"{sum(times):.1f}", f"{360 / statistics.median(times):.0f}x faster")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
