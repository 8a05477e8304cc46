"""Hashing throughput: ``haechi hash`` against the ``threatexchange`` CLI on the same folder.

    python bench/bench_hash.py [--images 500] [--size 1600x1200] [--mixed 600] [--tx threatexchange]

Both are timed as a user runs them (whole command, start-up included), on two sets:
- ``generated``: photo-like JPEGs of one size (``--size``), made by :func:`haechi.demo.samples.scene`;
- ``mixed``: the real photographs in ``../shared/data`` (faces, misc photos, the PDQ bridge set;
  never ``deepfake_samples``), JPEG and PNG from 160x100 to 4352x2903, small ones included — where
  start-up and per-file overheads weigh more than on large photos. There are 140, so the folder
  repeats them (hard links) up to ``--mixed`` files. Nothing is copied into the repository: the
  folder is built under ``bench/out`` (git-ignored).
The PDQ hashes are also compared (ports of PDQ should stay within distance 10).
"""

from __future__ import annotations

import argparse
import json
import os
import random
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


#: real photographs in ../shared/data used for the mixed set (deepfake_samples is excluded:
#: evaluation-only licence)
REAL_PHOTO_FOLDERS = ("photos_misc", "faces_deepface", "faces_face_recognition", "faces_openface", "faces_dlib",
                      "pdq_bridge")
SUFFIXES = (".jpg", ".jpeg", ".png")


def real_photos(data: Path) -> list[Path]:
    """The real photos, in a fixed shuffled order so small and large ones interleave."""
    found = sorted(p for d in REAL_PHOTO_FOLDERS if (data / d).is_dir() for p in (data / d).rglob("*")
                   if p.is_file() and p.suffix.lower() in SUFFIXES)
    random.Random(22).shuffle(found)
    return found


def make_mixed(folder: Path, sources: list[Path], count: int) -> list[Path]:
    """``count`` files cycling through ``sources`` (hard links, else copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        src = sources[i % len(sources)]
        p = folder / f"real_{i:05d}{src.suffix.lower()}"
        if not p.exists():
            try:
                os.link(src, p)
            except OSError:
                shutil.copyfile(src, p)
        paths.append(p)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500, help="generated photos (0: skip the set)")
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--mixed", type=int, default=600, help="files of real photos of all sizes (0: skip the set)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--tx", default=shutil.which("threatexchange") or "threatexchange")
    ap.add_argument("--cache", default=str(Path(__file__).parent / "out" / "photos"))
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    if args.images:
        paths = make_photos(Path(args.cache) / f"{w}x{h}", args.images, (w, h))[: args.images]
        bench(paths, f"Hashing {len(paths)} generated JPEGs of {w}x{h}", args.tx)
    if args.mixed:
        sources = real_photos(Path(args.data))
        if not sources:
            Console(stderr=True).print(f"no real photos under {args.data}: mixed set skipped")
        else:
            paths = make_mixed(Path(args.cache) / "mixed", sources, args.mixed)
            bench(paths, f"Hashing {len(paths)} real photos of all sizes ({len(sources)} distinct, JPEG and PNG, "
                         f"160x100 to 4352x2903)", args.tx)
    return 0


def bench(paths: list[Path], title: str, tx_bin: str) -> None:
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
        tx = subprocess.run([tx_bin, "hash", "photo", *map(str, paths)], capture_output=True, text=True,
                            check=True)
        t_tx = time.perf_counter() - t0
        hashes = [line.split()[1] for line in tx.stdout.splitlines() if line.startswith("pdq ")]
        theirs = {p.name: hv for p, hv in zip(paths, hashes, strict=False)}
        rows.append(("threatexchange hash photo", t_tx))
    except (OSError, subprocess.CalledProcessError) as exc:
        Console(stderr=True).print(f"threatexchange not runnable ({exc}); install it: pip install threatexchange")
    table = Table("command", "seconds", "images/s", "vs threatexchange", title=f"{title} on {os.cpu_count()} cores")
    for name, secs in rows:
        ratio = f"{t_tx / secs:.2f}x" if t_tx else "n/a"
        table.add_row(name, f"{secs:.2f}", f"{len(paths) / secs:.1f}", ratio)
    console = Console()
    console.print(table)
    if theirs:
        dists = [hamming(ours[n], theirs[n]) for n in theirs if ours.get(n)]
        console.print(f"PDQ agreement with threatexchange: mean distance {sum(dists) / len(dists):.2f}, "
                      f"max {max(dists)} over {len(dists)} images")


if __name__ == "__main__":
    sys.exit(main())
