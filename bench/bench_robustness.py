"""Matching robustness on real photos (../shared/data): recall per copy family against the
anchors (plain PDQ at 31, PDQ + 8 rotations/mirrors) and false matches on unrelated images.

    python bench/bench_robustness.py [--data ../shared/data] [--generated 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from haechi.demo.evaluation import collect_images, run_suite

#: genuinely near-duplicate photos in the data set (documented in its SOURCE.md files)
RELATED_GROUPS = [
    {"obama_03.jpg", "multi_two_people.jpg"},
    {"skimage_motorcycle_left.png", "skimage_motorcycle_right.png"},
    {"obama_01.jpg", "obama_05_partial.jpg", "obama_06_partial.jpg", "obama_07_720p.jpg", "obama_08_small.jpg"},
]


def related_map() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for group in RELATED_GROUPS:
        for name in group:
            out[name] = group - {name}
    return out


def split(data: Path) -> tuple[list[Path], list[Path]]:
    """Every other real photo goes in the bank; the rest (and all deepfake samples) are unrelated."""
    photos = collect_images(data, exclude_dirs=("deepfake_samples", "pdq_bridge"))
    bank = photos[::2]
    others = photos[1::2] + collect_images(data / "deepfake_samples")
    return bank, others


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--generated", type=int, default=1000)
    args = ap.parse_args()
    bank, others = split(Path(args.data))
    res = run_suite(bank, others, generated_distractors=args.generated, related=related_map())
    table = Table("copy family", "plain PDQ@31", "PDQ+dihedral", "Haechi", "of",
                  title=f"Matching on {len(bank)} real photos (bank) — copies found")
    for family, (found, total) in res.families.items():
        table.add_row(family, str(res.baseline_pdq[family]), str(res.baseline_dihedral[family]),
                      str(found), str(total))
    total = res.total
    table.add_row("all", f"{sum(res.baseline_pdq.values()) / total:.1%}",
                  f"{sum(res.baseline_dihedral.values()) / total:.1%}", f"{res.recall:.1%}", str(total))
    console = Console()
    console.print(table)
    console.print(f"unrelated images scanned: {res.distractors}; false matches: {len(res.false_matches)}")
    for fm in res.false_matches[:20]:
        console.print(f"  false: {fm}")
    console.print(f"bank add {res.seconds_add:.1f}s; scan {res.scanned} images in {res.seconds_scan:.1f}s "
                  f"({res.scanned / max(res.seconds_scan, 1e-9):.1f} images/s)")
    return 0 if res.recall >= 0.97 and not res.false_matches else 1


if __name__ == "__main__":
    sys.exit(main())
