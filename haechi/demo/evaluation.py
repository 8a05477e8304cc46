"""Measure matching on real photos: recall per copy family and false matches on unrelated images.

Used by ``bench/bench_robustness.py`` (full table) and the tests (a smaller draw with the same
assertions). The images come from the caller — ``../shared/data`` in this repository — so the
package itself ships no photos.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from haechi.app import Haechi
from haechi.demo.samples import scene
from haechi.demo.transforms import FAMILIES, make_copy
from haechi.signals.pdq import hamming, pdq_of

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class SuiteResult:
    families: dict[str, list[int]] = field(default_factory=dict)  # family -> [found, total]
    baseline_pdq: dict[str, int] = field(default_factory=dict)  # plain PDQ at 31
    baseline_dihedral: dict[str, int] = field(default_factory=dict)  # PDQ + 8 variants
    distractors: int = 0
    false_matches: list[str] = field(default_factory=list)
    seconds_add: float = 0.0
    seconds_scan: float = 0.0
    scanned: int = 0

    @property
    def found(self) -> int:
        return sum(v[0] for v in self.families.values())

    @property
    def total(self) -> int:
        return sum(v[1] for v in self.families.values())

    @property
    def recall(self) -> float:
        return self.found / max(1, self.total)


def collect_images(root: Path, exclude_dirs: Sequence[str] = ()) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part in exclude_dirs for part in p.parts))


def run_suite(bank_images: Sequence[Path], other_images: Sequence[Path], *, generated_distractors: int = 200,
              families: Sequence[str] = tuple(FAMILIES), transform_others: bool = True,
              workers: int | None = None, related: dict[str, set[str]] | None = None) -> SuiteResult:
    """Bank ``bank_images``; scan their copies (recall) and ``other_images`` + their copies +
    generated scenes (false matches). ``related`` maps a file name to names that are genuinely
    near-duplicates of it (e.g. a stereo pair), which do not count as false matches."""
    related = related or {}
    result = SuiteResult(families={f: [0, 0] for f in families})
    with tempfile.TemporaryDirectory(prefix="haechi-suite-") as tmp:
        root = Path(tmp)
        copies, distract = root / "copies", root / "distractors"
        copies.mkdir()
        distract.mkdir()
        expected: dict[str, tuple[str, str]] = {}
        bank_pdq: dict[str, str] = {}
        baseline_pdq = {f: 0 for f in families}
        baseline_dih = {f: 0 for f in families}
        for i, path in enumerate(bank_images):
            im = Image.open(path).convert("RGB")
            original = pdq_of(np.asarray(im)).hash
            bank_pdq[path.name] = original
            for j, family in enumerate(families):
                copy = make_copy(im, family, seed=i * 1000 + j)
                name = f"c{i:04d}_{family}.jpg"
                copy.save(copies / name, quality=92)
                expected[name] = (family, path.name)
                res = pdq_of(np.asarray(copy), dihedral=True)
                baseline_pdq[family] += hamming(res.hash, original) <= 31 and res.quality >= 50
                baseline_dih[family] += min(hamming(v, original) for v in res.variants) <= 31 and res.quality >= 50
        result.baseline_pdq, result.baseline_dihedral = baseline_pdq, baseline_dih
        origin: dict[str, str] = {}
        for i, path in enumerate(other_images):
            im = Image.open(path).convert("RGB")
            name = f"o{i:04d}.jpg"
            im.save(distract / name, quality=90)
            origin[name] = path.name
            if transform_others:
                for j, family in enumerate(families):
                    cname = f"o{i:04d}_{family}.jpg"
                    make_copy(im, family, seed=7 + i * 1000 + j).save(distract / cname, quality=92)
                    origin[cname] = path.name
        for k in range(generated_distractors):
            scene(90_000 + k).save(distract / f"g{k:05d}.jpg", quality=88)
            origin[f"g{k:05d}.jpg"] = f"generated-{k}"
        h = Haechi(home=root / "home", workers=workers or 2)
        try:
            h.create_bank("suite")
            t0 = time.perf_counter()
            for path in bank_images:
                for r in h.add_to_bank("suite", [path], label=path.name):
                    if r.error:
                        raise RuntimeError(r.error)
            result.seconds_add = time.perf_counter() - t0
            t0 = time.perf_counter()
            for row in h.scan([copies]):
                family, _ = expected[Path(row["path"]).name]
                result.families[family][1] += 1
                result.families[family][0] += bool(row["matches"])
                result.scanned += 1
            for row in h.scan([distract]):
                result.scanned += 1
                result.distractors += 1
                src = origin[Path(row["path"]).name]
                for m in row["matches"]:
                    if m["label"] in related.get(src, set()) or m["label"] == src:
                        continue
                    result.false_matches.append(f"{src} ~ {m['label']} via {m['method']} d={m['distance']}")
            result.seconds_scan = time.perf_counter() - t0
        finally:
            h.close()
    return result
