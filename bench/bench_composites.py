"""Composites and overlays (issue #20, part 2): copy-recall, leads and false copies per family,
before (``composite_search=False``) and after, in the same run; scan throughput of both.

Families are generated at bench time from ../shared/data (never committed): album tiles, phone
screenshots with chat UI, meme text, heavy and strip crops of real photos; low-texture (the
photos made smooth and skin-toned, then cropped or screenshotted); same scene / same person
(a stereo pair and other photos of each enrolled identity, plain and in composites: must give
zero ``copy``). The existing families run in the same scans, so their recall is checked too.

    python bench/bench_composites.py [--data ../shared/data] [--out bench/robustness.md]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TypeVar

from PIL import Image

from haechi import Haechi
from haechi.demo.evaluation import collect_images
from haechi.demo.samples import smooth_like
from haechi.demo.transforms import ALL_FAMILIES, make_copy

LOW_TEXTURE = ("crop_offcentre", "crop_heavy", "phone_screenshot", "album_tile")
SAME_SCENE = ("plain", "album_tile", "meme_text", "crop_heavy")


K = TypeVar("K")


def _identities(data: Path, per: int = 3) -> list[list[Path]]:
    groups = []
    for labels in sorted(data.glob("faces_*/labels.csv")):
        by: dict[str, list[Path]] = {}
        with labels.open() as fh:
            for row in csv.DictReader(fh):
                if row["identity"] and not row["identity"].startswith("MULTI"):
                    by.setdefault(row["identity"], []).append(labels.parent / row["file"])
        groups += [sorted(files)[:per] for files in by.values() if len(files) > 1]
    return groups


def build(data: Path, root: Path) -> tuple[Path, Path, dict[str, tuple[str, str | None]]]:
    """Bank folder, query folder, and per query file: (family, expected bank label or None)."""
    bank, queries = root / "bank", root / "queries"
    bank.mkdir()
    queries.mkdir()
    expected: dict[str, tuple[str, str | None]] = {}
    photos = collect_images(data / "photos_misc")
    photos = [p for p in photos if "motorcycle" not in p.name][::2]
    for i, path in enumerate(photos):
        im = Image.open(path).convert("RGB")
        im.save(bank / f"{path.stem}.png")
        for j, family in enumerate(ALL_FAMILIES):
            name = f"p{i:02d}_{family}.jpg"
            make_copy(im, family, seed=i * 100 + j).save(queries / name, quality=90)
            expected[name] = (family, f"{path.stem}.png")
        if i < 6:
            skin = smooth_like(im)
            skin.save(bank / f"skin_{path.stem}.png")
            for j, family in enumerate(LOW_TEXTURE):
                name = f"s{i:02d}_{family}.jpg"
                make_copy(skin, family, seed=i * 100 + j).save(queries / name, quality=90)
                expected[name] = (f"low_texture ({family})", f"skin_{path.stem}.png")
    misc = data / "photos_misc"
    pairs = [[misc / "skimage_motorcycle_left.png", misc / "skimage_motorcycle_right.png"]]
    pairs += _identities(data)
    for g, group in enumerate(pairs):
        first = Image.open(group[0]).convert("RGB")
        first.save(bank / f"same{g:02d}_{group[0].stem}.png")
        for k, other in enumerate(group[1:]):
            im = Image.open(other).convert("RGB")
            for j, family in enumerate(SAME_SCENE):
                name = f"o{g:02d}_{k}_{family}.jpg"
                (im if family == "plain" else make_copy(im, family, seed=g * 100 + j)).save(queries / name, quality=90)
                expected[name] = ("same scene / same person", None)
    return bank, queries, expected


def run(bank: Path, queries: Path, expected: dict[str, tuple[str, str | None]], home: Path,
        composite: bool) -> tuple[dict[str, list[int]], float, int]:
    """Per family [found as copy, leads, false copies, total]; seconds; images scanned."""
    table: dict[str, list[int]] = {}
    with Haechi(home=home, workers=2, composite_search=composite) as h:
        h.create_bank("bench")
        for path in sorted(bank.iterdir()):
            list(h.add_to_bank("bench", [path], label=path.name))
        t0 = time.perf_counter()
        rows = list(h.scan([queries]))
        seconds = time.perf_counter() - t0
    for row in rows:
        family, label = expected[Path(row["path"]).name]
        cell = table.setdefault(family, [0, 0, 0, 0])
        cell[3] += 1
        copies = [m for m in row["matches"] if m["verdict"] == "copy"]
        # a low-texture bank image is made from a banked photo (same layout): either is the source
        same = {label, f"skin_{label}", label.removeprefix("skin_")} if label is not None else set()
        right = [m for m in copies if m["label"] in same]
        for m in copies:
            if m["label"] not in same:
                print(f"false copy ({'after' if composite else 'before'}): {Path(row['path']).name} ~ {m['label']} "
                      f"via {m['method']} {m.get('agreement')}", file=sys.stderr)
        cell[0] += bool(right)
        cell[2] += len(copies) - len(right)
        cell[1] += bool(not right and any(m["verdict"] == "lead" for m in row["matches"]))
    return table, seconds, len(rows)


def scan_cost(homes: dict[K, Haechi], files: list[Path], reps: int) -> dict[K, tuple[float, float]]:
    """Each home scans ``files``, the settings interleaved ``reps`` times: median CPU seconds
    (``time.process_time``, robust to other load on a shared machine) and wall seconds per image,
    per home. The homes must be warm (index built, libraries loaded)."""
    cpu: dict[K, list[float]] = {k: [] for k in homes}
    wall: dict[K, list[float]] = {k: [] for k in homes}
    for _ in range(reps):
        for key, h in homes.items():
            c0, w0 = time.process_time(), time.perf_counter()
            list(h.scan(files))
            cpu[key].append((time.process_time() - c0) / len(files))
            wall[key].append((time.perf_counter() - w0) / len(files))
    return {k: (statistics.median(cpu[k]), statistics.median(wall[k])) for k in homes}


def throughput(bank: Path, files: list[Path], home: Path, reps: int) -> dict[bool, tuple[float, float]]:
    """Single process, before and after (composite search off, on) interleaved ``reps`` times on
    the same files: :func:`scan_cost` per setting."""
    homes = {}
    for composite in (False, True):
        h = Haechi(home=home / f"t{int(composite)}", workers=1, composite_search=composite)
        h.create_bank("bench")
        for path in sorted(bank.iterdir()):
            list(h.add_to_bank("bench", [path], label=path.name))
        list(h.scan(files[:2]))  # warm: index built, libraries loaded
        homes[composite] = h
    try:
        return scan_cost(homes, files, reps)
    finally:
        for h in homes.values():
            h.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--out", default=str(Path(__file__).with_name("robustness.md")))
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the throughput measurement")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "photos_misc").is_dir():
        print(f"no data at {data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="haechi-composites-") as tmp:
        root = Path(tmp)
        bank, queries, expected = build(data, root)
        before, s_before, n = run(bank, queries, expected, root / "before", composite=False)
        after, s_after, _ = run(bank, queries, expected, root / "after", composite=True)
        # a fixed quarter of the queries (every family), single process
        fixed = sorted(queries.iterdir())[::4]
        cost = throughput(bank, fixed, root, args.reps)
    low = sorted({f for f in after if f.startswith("low_texture")})
    order = [*ALL_FAMILIES, *low, "same scene / same person"]
    lines = ["| family | copies before | copies after | leads after | false copies before | false copies after | of |",
             "|---|---|---|---|---|---|---|"]
    for family in order:
        b, a = before.get(family, [0, 0, 0, 0]), after.get(family, [0, 0, 0, 0])
        lines.append(f"| {family} | {b[0]} | {a[0]} | {a[1]} | {b[2]} | {a[2]} | {a[3]} |")
    rate_b, rate_a = n / s_before, n / s_after
    (cpu_b, wall_b), (cpu_a, wall_a) = cost[False], cost[True]
    lines.append("")
    lines.append(f"Scan cost, single process, {len(fixed)} of the queries, median of "
                 f"{args.reps} interleaved repetitions: CPU {cpu_b * 1000:.0f} ms/image before, "
                 f"{cpu_a * 1000:.0f} after: images/s after/before = **{cpu_b / cpu_a:.2f}** by CPU time "
                 f"(wall {wall_b * 1000:.0f} → {wall_a * 1000:.0f} ms/image, {wall_b / wall_a:.2f}; "
                 f"the machine was shared). Whole run, 2 workers: {rate_b:.2f} images/s before, "
                 f"{rate_a:.2f} after ({rate_a / rate_b:.2f}).")
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text("# Composites and overlays (bench/bench_composites.py)\n\n"
                              "Same run, same generated families; \"before\" is `composite_search=False`.\n"
                              "Same scene / same person rows expect no copy: copies there are false.\n\n"
                              + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
