"""Memory soak: /m/lookup for a long run (default 10 minutes) at the highest rate this machine
holds, with 1M banked hashes; server RSS sampled every 10 s. Passes when there are no errors
and memory is flat: the RSS growth over the second half of the run (after warm-up) stays under
5% — HMA's open memory-growth bug (#1813) is the anchor.

    python bench/bench_soak.py [--hashes 1000000] [--seconds 600] [--concurrency 8] [--workers 2]
        [--out bench/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import prepared_server, run_load  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="server processes (haechi serve --workers)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    console = Console()
    with prepared_server(args.hashes, workers=args.workers) as srv:
        res = run_load(srv, args.seconds, args.concurrency, sample_every=10.0,
                       on_sample=lambda t, n, rss: console.print(f"{t:6.0f}s {n:9,d} requests  server RSS {rss} MiB"))
    lat = res.latencies_ms
    rss = [s[2] for s in res.samples]
    half = rss[len(rss) // 2:] or rss
    growth = (half[-1] - half[0]) / max(1, half[0]) if half else 0.0
    report = {"hashes": args.hashes, "seconds": round(res.wall_s), "concurrency": args.concurrency,
              "server_processes": args.workers, "cores": os.cpu_count(), "requests": int(len(lat)),
              "errors": res.errors,
              "req_per_s": round(len(lat) / res.wall_s), "p50_ms": round(float(np.percentile(lat, 50)), 1),
              "p99_ms": round(float(np.percentile(lat, 99)), 1), "rss_mib_first": rss[0] if rss else None,
              "rss_mib_max": max(rss) if rss else None, "rss_mib_last": rss[-1] if rss else None,
              "rss_growth_second_half": round(growth, 4), "samples": res.samples,
              "flat": bool(res.errors == 0 and growth < 0.05)}
    console.print({k: v for k, v in report.items() if k != "samples"})
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0 if report["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
