"""Faces: ROC on labelled identity photos, the margin rule, detectors, swaps, gallery speed.

    python bench/bench_faces.py [--data ../shared/data] [--gallery 10000 1000000] [--md bench/faces.md]

ROC: every labelled single-identity photo in ``faces_*`` (labels.csv) is embedded (largest
face); genuine pairs share an identity, impostor pairs do not. Reported: recall (true accept
rate) at false-accept rates 1% and 0.1%, and at Haechi's threshold.

Margin rule (open set, as a scan searches): each photo is a query against a gallery of every
other photo, grouped by person (all of a person's photos used together: her best one counts).
Genuine: her other photos are enrolled. Impostor: her identity is removed from the gallery, so
any match is a wrong person. A match needs best >= threshold and best - next person's >= margin.

Detectors: dlib HOG vs MediaPipe BlazeFace (``haechi[blazeface]``), ms per photo, recall on
single-identity photos at full size and at 0.3x, and on group photos against the union of both
detectors' faces at full size. Swaps: ``haechi.demo.faceswap`` pastes one enrolled person's face
(from a photo that is *not* enrolled) over another person's face; ``scan --faces`` must find her
and nobody else. Gallery: random unit vectors plus planted neighbours, exact faiss flat vs the
index Haechi uses, same run.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from haechi.config import DEFAULT_FACE_THRESHOLD as FACE_MATCH_THRESHOLD
from haechi.index.faces import DIM, FaceIndex
from haechi.media import decode_image
from haechi.services.scan import FACE_MARGIN
from haechi.signals.blazeface import box_iou
from haechi.signals.faces import FaceEngine

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def labelled_photos(data: Path) -> list[tuple[Path, str]]:
    out = []
    for labels in sorted(data.glob("faces_*/labels.csv")):
        with labels.open() as fh:
            for row in csv.DictReader(fh):
                ident = row["identity"]
                if ident.startswith(("MULTI", "NOFACE")) or ident == "unknown":
                    continue
                out.append((labels.parent / row["file"], ident))
    return out


def roc(genuine: np.ndarray, impostor: np.ndarray, fars: list[float]) -> list[tuple[float, float, float]]:
    """(FAR target, threshold, recall at it) — threshold is the smallest with FAR <= target."""
    imp = np.sort(impostor)[::-1]
    out = []
    for far in fars:
        k = int(np.floor(far * len(imp)))  # impostor pairs allowed above the threshold
        thr = float(imp[k]) + 1e-6 if k < len(imp) else float(imp[-1])
        out.append((far, thr, float((genuine >= thr).mean())))
    return out


def group_photos(data: Path) -> list[Path]:
    out = []
    for labels in sorted(data.glob("faces_*/labels.csv")):
        with labels.open() as fh:
            out += [labels.parent / r["file"] for r in csv.DictReader(fh) if r["identity"].startswith("MULTI")]
    return out


def _rgb(path: Path, scale: float = 1.0) -> np.ndarray:
    from haechi._lazy import cv2

    rgb = decode_image(path.read_bytes(), str(path), max_pixels=80_000_000, draft_min_side=None).rgb
    if scale != 1.0:
        rgb = cv2.resize(rgb, (max(1, int(rgb.shape[1] * scale)), max(1, int(rgb.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def detectors(data: Path, names: list[str]) -> tuple[Table, list[str]]:
    """ms per photo and recall per detector, measured in the same run (interleaved per photo)."""
    engines = {n: FaceEngine(detector=n) for n in names}
    singles = [p for p, _ in labelled_photos(data)]
    groups = group_photos(data)
    ms: dict[str, list[float]] = {n: [] for n in names}
    found = {n: {"single": 0, "single_03": 0, "group": 0, "group_03": 0} for n in names}
    group_ref = 0
    for path in singles + groups:
        full, small = _rgb(path), _rgb(path, 0.3)
        boxes = {}
        for n, eng in engines.items():
            t0 = time.perf_counter()
            boxes[n] = [b.box() for b in eng.detect(full, min_face=1)]
            ms[n].append(1000 * (time.perf_counter() - t0))
            small_boxes = [[v / 0.3 for v in b.box()] for b in eng.detect(small, min_face=1)]
            boxes[n + "@0.3"] = small_boxes
        if path in groups:  # reference: the union of every detector's faces at full size (>= 20 px)
            ref: list[list[int]] = []
            for n in names:
                ref += [b for b in boxes[n] if min(b[2:]) >= 20 and all(box_iou(b, r) < 0.3 for r in ref)]
            group_ref += len(ref)
            for n in names:
                found[n]["group"] += sum(any(box_iou(r, b) >= 0.3 for b in boxes[n]) for r in ref)
                found[n]["group_03"] += sum(any(box_iou(r, b) >= 0.3 for b in boxes[n + "@0.3"]) for r in ref)
        else:
            for n in names:
                found[n]["single"] += bool(boxes[n])
                found[n]["single_03"] += bool(boxes[n + "@0.3"])
    t = Table("detector", "ms/photo (mean)", "ms/photo (median)", "single photos found (1x)",
              "single photos found (0.3x)", "group faces found (1x)", "group faces found (0.3x)",
              title=f"Face detectors, same run: {len(singles)} single-person photos, {len(groups)} group photos "
                    f"({group_ref} faces in the union of the detectors at 1x)")
    md = ["| detector | ms/photo mean | ms/photo median | single photos found, 1x | single, 0.3x | "
          "group faces found, 1x | group, 0.3x |", "|---|---|---|---|---|---|---|"]
    for n in names:
        f = found[n]
        cells = [n, f"{np.mean(ms[n]):.0f}", f"{np.median(ms[n]):.0f}", f"{f['single']}/{len(singles)}",
                 f"{f['single_03']}/{len(singles)}", f"{f['group']}/{group_ref}", f"{f['group_03']}/{group_ref}"]
        t.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    return t, md


def margin_roc(emb: np.ndarray, idents: list[str]) -> tuple[Table, list[str]]:
    """TPR/FPR of the open-set rule for thresholds and margins (see the module docstring)."""
    sims = emb @ emb.T
    ids = np.array(idents)
    people = sorted(set(idents))
    gen_best, gen_ok, gen_gap, imp_best, imp_gap = [], [], [], [], []
    for i in range(len(ids)):
        per = {}
        for person in people:
            sel = (ids == person)
            sel[i] = False
            if sel.any():
                per[person] = float(sims[i, sel].max())
        ranked = sorted(per.items(), key=lambda kv: -kv[1])
        if ids[i] in per:  # genuine: her other photos are enrolled
            best, second = ranked[0][1], ranked[1][1] if len(ranked) > 1 else -1.0
            gen_best.append(best)
            gen_ok.append(ranked[0][0] == ids[i])
            gen_gap.append(best - second)
        others = [(p, v) for p, v in ranked if p != ids[i]]  # impostor: she is not enrolled
        imp_best.append(others[0][1])
        imp_gap.append(others[0][1] - (others[1][1] if len(others) > 1 else -1.0))
    gb, go, gg = np.array(gen_best), np.array(gen_ok), np.array(gen_gap)
    ib, ig = np.array(imp_best), np.array(imp_gap)

    def rates(thr: float, margin: float) -> tuple[float, float, int]:
        tpr = float(((gb >= thr) & (gg >= margin) & go).mean())
        wrong_genuine = int(((gb >= thr) & (gg >= margin) & ~go).sum())
        fpr = float(((ib >= thr) & (ig >= margin)).mean())
        return tpr, fpr, wrong_genuine

    t = Table("rule", "threshold", "margin", "TPR", "FPR (not enrolled, matched)", "wrong person among enrolled",
              title=f"Open-set face search with the margin rule: {len(gb)} genuine, {len(ib)} impostor queries")
    md = ["| rule | threshold | margin | TPR | FPR (not enrolled, matched) | wrong person (enrolled) |",
          "|---|---|---|---|---|---|"]
    grid = [(thr, m) for thr in np.arange(0.88, 0.97, 0.005) for m in (0.0, 0.01, 0.02, 0.03, 0.04)]
    rows = [("Haechi now", FACE_MATCH_THRESHOLD, FACE_MARGIN), ("threshold only", FACE_MATCH_THRESHOLD, 0.0)]
    for target in (0.0, 0.01, 0.05):
        ok = [(rates(thr, m), thr, m) for thr, m in grid if rates(thr, m)[1] <= target]
        if ok:
            (_, _, _), thr, m = max(ok, key=lambda r: (r[0][0], -r[0][1], r[2]))
            rows.append((f"best TPR at FPR <= {target:.0%}", thr, m))
    for name, thr, m in rows:
        tpr, fpr, wrong = rates(thr, m)
        cells = [name, f"{thr:.3f}", f"{m:.2f}", f"{tpr:.1%}", f"{fpr:.1%}", str(wrong)]
        t.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    return t, md


def swaps(data: Path, per_person: int) -> tuple[Table, list[str]]:
    """scan --faces on face swaps: a Haechi home with every person enrolled from all but one of
    her photos; that photo's face is swapped into other people's photos and the swaps scanned."""
    import tempfile

    from PIL import Image

    from haechi import Haechi
    from haechi.demo.faceswap import swap_face
    from haechi.errors import InputError
    from haechi.signals.faces import engine

    photos = labelled_photos(data)
    by_person: dict[str, list[Path]] = {}
    for path, ident in photos:
        by_person.setdefault(ident, []).append(path)
    enrolled = {p: v for p, v in by_person.items() if len(v) >= 2}
    eng = engine()
    with tempfile.TemporaryDirectory() as tmp:
        h = Haechi(Path(tmp) / "home")
        for person, paths in enrolled.items():
            try:
                h.enroll_subject(person, paths[1:], consent_ref=f"bench-{person}", enrolled_by="bench")
            except InputError:  # a photo without exactly one face: enrol from the ones that have
                ok = [p for p in paths[1:] if len(eng.detect(_rgb(p))) == 1]
                if ok:
                    h.enroll_subject(person, ok, consent_ref=f"bench-{person}", enrolled_by="bench")
        out = Path(tmp) / "swaps"
        out.mkdir()
        truth: dict[str, tuple[str, str]] = {}
        rng = np.random.default_rng(5)
        targets = [(p, i) for p, i in photos]
        for person, paths in sorted(enrolled.items()):
            source = _rgb(paths[0])
            others = [t for t in targets if t[1] != person]
            for k in rng.choice(len(others), size=min(per_person, len(others)), replace=False):
                tpath, tident = others[int(k)]
                try:
                    sw = swap_face(eng, source, _rgb(tpath))
                except InputError:
                    continue
                name = f"{person}__into__{tpath.stem}.png"
                Image.fromarray(sw.rgb).save(out / name)
                truth[name] = (person, tident)
        found = wrong = wrong_target = 0
        for row in h.scan([out], faces=True):
            person, target_ident = truth[Path(row["path"]).name]
            matched = {f["subject"] for f in row.get("faces", []) if f["match"]}
            found += person in matched
            wrong += bool(matched - {person})
            wrong_target += target_ident in matched
        h.close()
    n = len(truth)
    t = Table("swaps scanned", "enrolled person found", "swaps with a wrong person matched",
              "... of them the target photo's own person", title="scan --faces on OpenCV face swaps")
    cells = [str(n), f"{found}/{n}", f"{wrong}/{n}", f"{wrong_target}/{n}"]
    t.add_row(*cells)
    md = ["| swaps scanned | enrolled person found | swaps with a wrong person matched | "
          "of them the target's own person |",
          "|---|---|---|---|", "| " + " | ".join(cells) + " |"]
    return t, md


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--gallery", type=int, nargs="*", default=[10_000, 1_000_000])
    ap.add_argument("--detectors", nargs="*", default=["hog", "blazeface"])
    ap.add_argument("--swaps-per-person", type=int, default=4)
    ap.add_argument("--md", help="also write the tables as Markdown to this file")
    args = ap.parse_args()
    console = Console()
    md: list[str] = []
    engine = FaceEngine()
    photos = labelled_photos(Path(args.data))
    embeddings: list[np.ndarray] = []
    idents: list[str] = []
    no_face: list[str] = []
    t_total, n_faces = 0.0, 0
    for path, ident in photos:
        img = decode_image(path.read_bytes(), str(path), max_pixels=80_000_000, draft_min_side=None)
        rgb = img.rgb
        scale = 640 / max(rgb.shape[:2])
        if scale < 1:
            import cv2

            rgb = cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        t0 = time.perf_counter()
        faces = engine.faces(rgb)
        t_total += time.perf_counter() - t0
        n_faces += len(faces)
        if not faces:
            no_face.append(path.name)
            continue
        embeddings.append(faces[0][1])
        idents.append(ident)
    emb = np.stack(embeddings)
    sims = emb @ emb.T
    genuine, impostor = [], []
    for i, j in combinations(range(len(idents)), 2):
        (genuine if idents[i] == idents[j] else impostor).append(sims[i, j])
    g, imp = np.array(genuine), np.array(impostor)
    table = Table("operating point", "threshold (cosine)", "recall (TAR)", "FAR",
                  title=f"Face verification ROC: {len(idents)} photos, {len(set(idents))} identities, "
                        f"{len(g)} genuine / {len(imp)} impostor pairs")
    for far, thr, rec in roc(g, imp, [0.01, 0.001]):
        table.add_row(f"FAR {far:.1%}", f"{thr:.3f}", f"{rec:.1%}", f"{(imp >= thr).mean():.2%}")
    table.add_row("Haechi default", f"{FACE_MATCH_THRESHOLD:.3f}", f"{(g >= FACE_MATCH_THRESHOLD).mean():.1%}",
                  f"{(imp >= FACE_MATCH_THRESHOLD).mean():.2%}")
    console.print(table)
    mt, mmd = margin_roc(emb, idents)
    console.print(mt)
    md += ["## Face search with the margin rule", "", *mmd, ""]
    console.print(f"photos without a detected face: {len(no_face)} {no_face}")
    console.print(f"detect + embed at <= 640 px: {len(photos) - len(no_face)} photos, {n_faces} faces, "
                  f"{t_total:.2f}s = {n_faces / t_total:.1f} faces/s, {1000 * t_total / len(photos):.0f} ms/photo")

    gt = Table("gallery", "index", "build s", "ms/query", "exact ms/query", "speed-up", "recall@1 vs exact",
               title="Gallery search (1,000 queries, 128-d, cosine)")
    rng = np.random.default_rng(0)
    for n in args.gallery:
        vecs = rng.normal(size=(n, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        q = vecs[rng.choice(n, 1000, replace=False)] + rng.normal(scale=0.05, size=(1000, DIM)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        t0 = time.perf_counter()
        exact = FaceIndex(vecs, np.arange(n), exact=True)
        exact_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        truth = [h[0].label for h in exact.search(q)]
        exact_ms = 1000 * (time.perf_counter() - t0) / len(q)
        t0 = time.perf_counter()
        index = FaceIndex(vecs, np.arange(n))
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = [h[0].label for h in index.search(q)]
        ms = 1000 * (time.perf_counter() - t0) / len(q)
        kind = type(index._index).__name__
        recall = float(np.mean([a == b for a, b in zip(got, truth, strict=True)]))
        gt.add_row(f"{n:,}", kind, f"{build if kind != 'IndexFlatIP' else exact_build:.1f}", f"{ms:.3f}",
                   f"{exact_ms:.3f}", f"{exact_ms / ms:.1f}x", f"{recall:.2%}")
    if args.gallery:
        console.print(gt)
    names = [n for n in args.detectors if n == "hog" or importlib.util.find_spec("ai_edge_litert")]
    dt, dmd = detectors(Path(args.data), names)
    console.print(dt)
    md += ["## Face detectors", "", *dmd, ""]
    st, smd = swaps(Path(args.data), args.swaps_per_person)
    console.print(st)
    md += ["## The enrolled person in face swaps (`scan --faces`)", "", *smd, ""]
    if args.md:
        Path(args.md).write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
