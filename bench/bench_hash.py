"""Hashing throughput: ``haechi hash`` against the ``threatexchange`` CLI on the same folder.

    python bench/bench_hash.py [--images 500] [--size 1600x1200] [--tx threatexchange]

Both are timed as a user runs them (whole command, start-up included) on generated photo-like
JPEGs; the PDQ hashes are also compared (ports of PDQ should stay within distance 10).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from haechi.demo.samples import scene
from haechi.signals.pdq import hamming


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = folder / f"photo_{i:05d}.jpg"
        if not p.exists():
            scene(40_000 + i, size).save(p, quality=90)
        paths.append(p)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--tx", default=shutil.which("threatexchange") or "threatexchange")
    ap.add_argument("--cache", default=str(Path(__file__).parent / "out" / "photos"))
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    folder = Path(args.cache) / f"{w}x{h}"
    paths = make_photos(folder, args.images, (w, h))
    paths = paths[: args.images]
    rows = []
    haechi_bin = str(Path(sys.executable).with_name("haechi"))
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HAECHI_HOME=home)
        t0 = time.perf_counter()
        out = subprocess.run([haechi_bin, "hash", "--json", *map(str, paths)], capture_output=True, text=True,
                             env=env, check=False)
        t_haechi = time.perf_counter() - t0
    ours = {Path(r["path"]).name: r["pdq"] for r in map(json.loads, out.stdout.splitlines())}
    rows.append(("haechi hash (all cores)", t_haechi))
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HAECHI_HOME=home, HAECHI_WORKERS="1")
        t0 = time.perf_counter()
        subprocess.run([haechi_bin, "hash", "--json", *map(str, paths)], capture_output=True, text=True,
                       env=env, check=False)
        rows.append(("haechi hash (1 process)", time.perf_counter() - t0))
    theirs: dict[str, str] = {}
    t_tx = None
    try:
        t0 = time.perf_counter()
        tx = subprocess.run([args.tx, "hash", "photo", *map(str, paths)], capture_output=True, text=True,
                            check=True)
        t_tx = time.perf_counter() - t0
        hashes = [line.split()[1] for line in tx.stdout.splitlines() if line.startswith("pdq ")]
        theirs = {p.name: hv for p, hv in zip(paths, hashes, strict=False)}
        rows.append(("threatexchange hash photo", t_tx))
    except (OSError, subprocess.CalledProcessError) as exc:
        Console(stderr=True).print(f"threatexchange not runnable ({exc}); install it: pip install threatexchange")
    table = Table("command", "seconds", "images/s", "vs threatexchange",
                  title=f"Hashing {len(paths)} JPEGs of {w}x{h} on {os.cpu_count()} cores")
    for name, secs in rows:
        ratio = f"{t_tx / secs:.2f}x" if t_tx else "n/a"
        table.add_row(name, f"{secs:.2f}", f"{len(paths) / secs:.1f}", ratio)
    console = Console()
    console.print(table)
    if theirs:
        dists = [hamming(ours[n], theirs[n]) for n in theirs if ours.get(n)]
        console.print(f"PDQ agreement with threatexchange: mean distance {sum(dists) / len(dists):.2f}, "
                      f"max {max(dists)} over {len(dists)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
