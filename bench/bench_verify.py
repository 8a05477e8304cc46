"""Dense verification of local matches (issue #20, ``signals.template``): three settings in the
same run, on the same queries.

- "160 px": the bank with every entry's template replaced by the 160-px one a bank made before
  the fine check holds (``TPL1``: what an old bank still gets);
- "similarity": the bank as it is made now (320-px templates), the query aligned by the
  similarity alone — the matcher before homographies (``index.local._perspective`` off);
- "perspective": the same bank, a match that fails aligned by the similarity checked again
  aligned by its homography when it has a plausible one (a copy photographed at an angle).

Families, generated at bench time from ../shared/data (never committed):

- copies (must be ``copy``): every demo family (``ALL_FAMILIES``, with ``perspective``: a screen
  photographed at an angle) of the photos in photos_misc and of generated scenes; heavy crops of
  the banked left view of the motorcycle stereo pair and of generated stereo views
  (``demo.samples.stereo_views``);
- other views (must not be ``copy``): heavy crops of the right motorcycle view (seeds 40–159, none
  the parallax check was tuned on), of generated right views, and *layered views* of the photos:
  the photo cut into k-means segments that each move by their own disparity (up to 8 or 16 px),
  pasted far to near — another viewpoint with occlusion edges, on textures the check never saw.

Single process throughout. Throughput: the three settings interleaved ``--reps`` times on a fixed
quarter of the queries, median CPU seconds per image (robust to other load on a shared machine).

    python bench/bench_verify.py [--data ../shared/data] [--out bench/verify.md] [--reps 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from bench_composites import scan_cost  # bench/ is the script's own folder (on sys.path)
from PIL import Image

from haechi import Haechi
from haechi.demo.evaluation import collect_images
from haechi.demo.samples import scene, stereo_views
from haechi.demo.transforms import ALL_FAMILIES, make_copy

OTHER = "other view"
COARSE, SIMILARITY, PERSPECTIVE = "160 px", "similarity", "perspective"


def layered_view(im: Image.Image, seed: int, disparity: float) -> Image.Image:
    """Another viewpoint of ``im``: six k-means segments (colour and position) each moved
    horizontally by its own disparity (0..``disparity`` px), pasted far to near over the image
    moved by a gentle slant — parallax with occlusion edges, as in a real stereo pair."""
    import cv2

    a = np.asarray(im.convert("RGB")).astype(np.float32)
    h, w = a.shape[:2]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    feats = np.dstack([cv2.GaussianBlur(a, (0, 0), 4), xx[..., None] / w * 120, yy[..., None] / h * 120])
    small = cv2.resize(feats, (w // 4, h // 4)).reshape(-1, 5).astype(np.float32)
    cv2.setRNGSeed(seed)
    start = np.zeros((len(small), 1), np.int32)  # not used: k-means++ chooses the centres
    _, labels, _ = cv2.kmeans(small, 6, start, (cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0), 2, cv2.KMEANS_PP_CENTERS)
    labels = cv2.resize(np.asarray(labels).reshape(h // 4, w // 4).astype(np.uint8), (w, h),
                        interpolation=cv2.INTER_NEAREST)
    moves = rng.uniform(0, disparity, 6)
    slant = (rng.uniform(0, 1.5) * xx / w).astype(np.float32)
    out = cv2.remap(a, xx - slant, yy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    for k in np.argsort(moves):  # far (small disparity) first, near last
        moved = cv2.remap(a, (xx + moves[k] - slant).astype(np.float32), yy, cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)
        mask = cv2.remap((labels == k).astype(np.float32), (xx + moves[k]).astype(np.float32), yy,
                         cv2.INTER_LINEAR, borderValue=0)[..., None]
        out = out * (1 - mask) + moved * mask
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def build(data: Path, root: Path) -> tuple[Path, Path, dict[str, tuple[str, str | None]]]:
    """Bank folder, query folder, and per query file: (family, expected bank label or None)."""
    bank, queries = root / "bank", root / "queries"
    bank.mkdir()
    queries.mkdir()
    expected: dict[str, tuple[str, str | None]] = {}

    def query(name: str, im: Image.Image, family: str, label: str | None) -> None:
        im.convert("RGB").save(queries / name, quality=90)
        expected[name] = (family, label)

    misc = data / "photos_misc"
    photos = [p for p in collect_images(misc) if "motorcycle" not in p.name]
    for i, path in enumerate(photos):
        im = Image.open(path).convert("RGB")
        im.save(bank / f"{path.stem}.png")
        for j, family in enumerate(ALL_FAMILIES):
            query(f"p{i:02d}_{family}.jpg", make_copy(im, family, seed=i * 100 + j + 7), family, f"{path.stem}.png")
        for disparity in (8, 16):
            other = layered_view(im, 1000 * i + disparity, disparity)
            family = f"{OTHER}: layered photo, up to {disparity} px"
            query(f"p{i:02d}_layered{disparity}_plain.jpg", other, family, None)
            for s in range(4):
                query(f"p{i:02d}_layered{disparity}_{s}.jpg", make_copy(other, "crop_heavy", seed=s), family, None)
    for seed in range(620, 632):
        im = scene(seed)
        im.save(bank / f"scene{seed}.png")
        for j, family in enumerate(ALL_FAMILIES):
            query(f"s{seed}_{family}.jpg", make_copy(im, family, seed=j), family, f"scene{seed}.png")
    left = Image.open(misc / "skimage_motorcycle_left.png").convert("RGB")
    right = Image.open(misc / "skimage_motorcycle_right.png").convert("RGB")
    left.save(bank / "motorcycle_left.png")
    for seed in range(40, 160):
        query(f"m_left_{seed}.jpg", make_copy(left, "crop_heavy", seed=seed), "crop_heavy (stereo left view)",
              "motorcycle_left.png")
        query(f"m_right_{seed}.jpg", make_copy(right, "crop_heavy", seed=seed), f"{OTHER}: stereo pair, heavy crop",
              None)
    for seed in range(1, 13):
        gl, gr = stereo_views(seed)
        gl.save(bank / f"gen_left{seed}.png")
        query(f"g{seed:02d}_right_plain.jpg", gr, f"{OTHER}: generated views", None)
        for s in range(8):
            query(f"g{seed:02d}_left_{s}.jpg", make_copy(gl, "crop_heavy", seed=s), "crop_heavy (generated left view)",
                  f"gen_left{seed}.png")
            query(f"g{seed:02d}_right_{s}.jpg", make_copy(gr, "crop_heavy", seed=s), f"{OTHER}: generated views", None)
    return bank, queries, expected


def banked(bank: Path, home: Path, coarse: bool) -> Haechi:
    """A single-process home with ``bank`` banked; ``coarse``: every template replaced by the
    160-px one made from the image, as a bank made before the fine check holds it."""
    from haechi.signals import template
    from haechi.signals.local import LocalFeatures
    from haechi.store.models import BankEntry, LocalFeatureSet

    h = Haechi(home=home, workers=1)
    h.create_bank("bench")
    for path in sorted(bank.iterdir()):
        list(h.add_to_bank("bench", [path], label=path.name))
    if coarse:
        with h.db.session() as s:
            for row, label in s.query(LocalFeatureSet, BankEntry.label).join(
                    BankEntry, BankEntry.id == LocalFeatureSet.entry_id):
                feats = LocalFeatures.from_bytes(h.cipher.decrypt(row.ciphertext))
                assert label is not None  # every bench entry is labelled with its file's name
                rgb = np.asarray(Image.open(bank / label).convert("RGB"))
                row.ciphertext = h.cipher.encrypt(
                    feats.to_bytes() + template.pack(template.make_template(rgb, template.FACTOR), fine=False))
        h.runtime._local_cache = None
    return h


@contextmanager
def similarity_only() -> Iterator[None]:
    """Local matches without homographies (the matcher before them): every hit's is empty."""
    from haechi.index import local

    fitted = local._perspective
    local._perspective = lambda *args: None
    try:
        yield
    finally:
        local._perspective = fitted


class Setting:
    """A home scanned with or without homographies (what :func:`scan_cost` times)."""

    def __init__(self, home: Haechi, perspective: bool) -> None:
        self.home, self.perspective = home, perspective

    def scan(self, files: list[Path]) -> list[dict]:
        if self.perspective:
            return list(self.home.scan(files))
        with similarity_only():
            return list(self.home.scan(files))


def tally(rows: list[dict], expected: dict[str, tuple[str, str | None]]) -> dict[str, list[int]]:
    """Per family [found as copy, leads, false copies, total]."""
    table: dict[str, list[int]] = {}
    for row in rows:
        family, label = expected[Path(row["path"]).name]
        cell = table.setdefault(family, [0, 0, 0, 0])
        cell[3] += 1
        copies = [m for m in row["matches"] if m["verdict"] == "copy"]
        right = [m for m in copies if m["label"] == label]
        cell[0] += bool(right)
        cell[1] += bool(not right and any(m["verdict"] == "lead" for m in row["matches"]))
        cell[2] += len(copies) - len(right)
    return table


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--out", default=str(Path(__file__).with_name("verify.md")))
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the throughput measurement")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "photos_misc").is_dir():
        print(f"no data at {data}", file=sys.stderr)
        return 2
    tables = {}
    with tempfile.TemporaryDirectory(prefix="haechi-verify-") as tmp:
        root = Path(tmp)
        bank, queries, expected = build(data, root)
        files = sorted(queries.iterdir())
        fixed = files[::4]
        coarse, fine = banked(bank, root / "coarse", True), banked(bank, root / "fine", False)
        settings = {COARSE: Setting(coarse, True), SIMILARITY: Setting(fine, False), PERSPECTIVE: Setting(fine, True)}
        try:
            for name, setting in settings.items():
                tables[name] = tally(setting.scan(files), expected)  # also warms: index built, libraries loaded
            cost = scan_cost(settings, fixed, args.reps)  # type: ignore[arg-type]  # a Setting scans like a home
        finally:
            coarse.close()
            fine.close()
    families = sorted({f for t in tables.values() for f in t}, key=lambda f: (f.startswith(OTHER), f))
    lines = ["| family | copies (160 px) | copies (similarity) | copies (perspective) | leads (perspective) "
             "| false copies (160 px) | false copies (similarity) | false copies (perspective) | of |",
             "|---|---|---|---|---|---|---|---|---|"]
    for family in families:
        c, s, p = (tables[k].get(family, [0, 0, 0, 0]) for k in (COARSE, SIMILARITY, PERSPECTIVE))
        lines.append(f"| {family} | {c[0]} | {s[0]} | {p[0]} | {p[1]} | {c[2]} | {s[2]} | {p[2]} | {p[3]} |")
    total = {k: [sum(t[f][i] for f in t if not f.startswith(OTHER)) for i in (0, 3)] for k, t in tables.items()}
    false = {k: sum(t[f][2] for f in t) for k, t in tables.items()}
    (cpu_c, wall_c), (cpu_s, wall_s), (cpu_p, wall_p) = (cost[k] for k in (COARSE, SIMILARITY, PERSPECTIVE))
    lines += ["", f"Copy-recall: {total[COARSE][0]}/{total[COARSE][1]} with the 160-px templates, "
              f"{total[SIMILARITY][0]}/{total[SIMILARITY][1]} with the 320-px ones aligned by similarity alone, "
              f"{total[PERSPECTIVE][0]}/{total[PERSPECTIVE][1]} with homographies; false copies "
              f"{false[COARSE]}, {false[SIMILARITY]} → {false[PERSPECTIVE]}.", "",
              f"Scan cost, single process, {len(fixed)} of the queries, median of {args.reps} interleaved "
              f"repetitions: CPU {cpu_c * 1000:.1f} ms/image (160 px), {cpu_s * 1000:.1f} (similarity) → "
              f"{cpu_p * 1000:.1f} (perspective): images/s perspective/similarity = **{cpu_s / cpu_p:.2f}** by "
              f"CPU time (wall {wall_c * 1000:.1f}, {wall_s * 1000:.1f} → {wall_p * 1000:.1f} ms/image, "
              f"{wall_s / wall_p:.2f}; the machine was shared)."]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text("# Dense verification: the fine check and homographies (bench/bench_verify.py)\n\n"
                              "Same run, same queries; \"160 px\" is the bank with the templates a bank made "
                              "before the fine check holds, \"similarity\" the bank as made now with queries "
                              "aligned by the similarity alone (before homographies), \"perspective\" the same "
                              "with homographies. Other-view rows expect no copy.\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
