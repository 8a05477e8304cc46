"""Video benchmark: vPDQ hashing speed as a multiple of real time, and matching a 1-minute query
against 10,000 banked videos.

    python bench/bench_video.py [--seconds 30] [--banked 10000] [--tx .venv-tx/bin/threatexchange]

Hashing is timed as a user runs it (``haechi hash`` on one file, whole command). The
threatexchange CLI's vPDQ hasher needs the ``vpdq`` package, which builds only against system
FFmpeg headers; where it cannot be installed that row says so.
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

import numpy as np
from rich.console import Console
from rich.table import Table

from haechi import Haechi
from haechi.demo.video_samples import clip_frames, resize, write_video
from haechi.services.analyse import AnalyseOptions, analyse
from haechi.signals.pdq import hamming
from haechi.signals.vpdq import VpdqFrame, from_exchange, to_exchange
from haechi.sources import MediaRef


def make_videos(folder: Path, seconds: int) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        path = folder / f"clip_{name}_{seconds}s.mp4"
        if not path.exists():
            # generated at 320x180 and scaled up: generation stays fast, decoding cost is real
            write_video(path, clip_frames(11, seconds, (320, 180), fps=30), fps=30, op=resize(size),
                        bitrate=4_000_000 if name == "720p" else 8_000_000)
        out[name] = path
    return out


def time_cmd(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode not in (0,):
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - t0, proc.stdout


def random_video(rng: np.random.Generator, frames: int) -> str:
    codes = rng.integers(0, 256, (frames, 32), dtype=np.uint8)
    return to_exchange([VpdqFrame(c.tobytes().hex(), 100, float(i)) for i, c in enumerate(codes)])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--banked", type=int, default=10_000)
    ap.add_argument("--tx", default=shutil.which("threatexchange") or "threatexchange")
    ap.add_argument("--cache", default=str(Path(__file__).parent / "out" / "videos"))
    args = ap.parse_args()
    console = Console()
    videos = make_videos(Path(args.cache), args.seconds)
    haechi_bin = str(Path(sys.executable).with_name("haechi"))
    table = Table("video", "tool", "seconds", "x real time", "frames hashed / note",
                  title=f"vPDQ hashing of {args.seconds}s generated videos on {os.cpu_count()} cores (whole command)")
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HAECHI_HOME=home)
        for name, path in videos.items():
            secs, out = time_cmd([haechi_bin, "hash", "--json", str(path)], env)
            rec = json.loads(out)
            table.add_row(name, "haechi hash", f"{secs:.2f}", f"{args.seconds / secs:.1f}x",
                          str(rec["frames_hashed"]))
            opts = AnalyseOptions(10**8, 10**10)
            t0 = time.perf_counter()
            analyse(MediaRef(path=str(path), file=str(path)), opts)
            secs = time.perf_counter() - t0
            table.add_row(name, "haechi (in-process, no start-up)", f"{secs:.2f}", f"{args.seconds / secs:.1f}x", "")
            try:
                tsecs, tout = time_cmd([args.tx, "hash", "--signal-type", "vpdq", "video", str(path)], env)
                theirs = from_exchange(tout.split(" ", 1)[1])
                ours = from_exchange(rec["vpdq"])
                dists = [min(hamming(o.pdq, t.pdq) for t in theirs if abs(t.t_s - o.t_s) <= 0.5) for o in ours
                         if any(abs(t.t_s - o.t_s) <= 0.5 for t in theirs)]
                note = (f"{len(theirs)}; ours vs theirs at the same second: mean {np.mean(dists):.1f}, "
                        f"max {max(dists)} bits") if dists else str(len(theirs))
                table.add_row(name, "threatexchange hash video (vpdq)", f"{tsecs:.2f}",
                              f"{args.seconds / tsecs:.1f}x", note)
            except (OSError, RuntimeError) as exc:
                table.add_row(name, "threatexchange hash video (vpdq)", "n/a", "n/a", f"not runnable: {exc}"[:60])
        both = list(map(str, videos.values()))
        secs, _ = time_cmd([haechi_bin, "hash", "--json", *both], env)
        table.add_row("720p + 1080p together", "haechi hash (2 processes)", f"{secs:.2f}",
                      f"{2 * args.seconds / secs:.1f}x", "")
    console.print(table)

    # matching: a 1-minute query against N banked videos (60 frames each, random) + the original
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        query_src = write_video(Path(tmp) / "orig.mp4", clip_frames(21, 60, (320, 240), fps=10), fps=10)
        query = write_video(Path(tmp) / "query.mp4", clip_frames(21, 60, (320, 240), fps=10), fps=10,
                            op=resize((480, 360)), bitrate=200_000)
        with Haechi(home=Path(tmp) / "home") as h:
            original = h.hash_file(query_src)
            lines = [json.dumps({"signal_type": "vpdq", "signal": random_video(rng, 60)})
                     for _ in range(args.banked)]
            lines.append(json.dumps({"signal_type": "vpdq", "signal": original["vpdq"], "label": "original"}))
            src = Path(tmp) / "bank.jsonl"
            src.write_text("\n".join(lines) + "\n")
            h.create_bank("videos")
            t0 = time.perf_counter()
            h.import_bank("videos", src)
            import_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            h.pdq_index()
            index_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rec = h.hash_file(query)
            hash_s = time.perf_counter() - t0
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                (res,) = h.scan([query])
                times.append(time.perf_counter() - t0)
            scan_s = float(np.median(times))
        frames = len(from_exchange(rec["vpdq"]))
        hit = [m for m in res["matches"] if m.get("label") == "original"]
        mt = Table("banked videos", "banked frames", "import s", "index build s", "query frames",
                   "hash query s", "scan s (hash + match)", "match ms", "found original",
                   title="Matching a 1-minute query video (re-encoded copy) against a bank")
        mt.add_row(f"{args.banked + 1:,}", f"{(args.banked + 1) * 60:,}", f"{import_s:.1f}", f"{index_s:.1f}",
                   str(frames), f"{hash_s:.2f}", f"{scan_s:.2f}", f"{1000 * max(0.0, scan_s - hash_s):.0f}",
                   f"{hit[0]['query_match_percent']}%" if hit else "NO")
        console.print(mt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
