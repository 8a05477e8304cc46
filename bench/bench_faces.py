"""Faces: ROC on labelled identity photos, detection+embedding speed, gallery search speed.

    python bench/bench_faces.py [--data ../shared/data] [--gallery 10000 1000000]

ROC: every labelled single-identity photo in ``faces_*`` (labels.csv) is embedded (largest
face); genuine pairs share an identity, impostor pairs do not. Reported: recall (true accept
rate) at false-accept rates 1% and 0.1%, and at Haechi's threshold. Gallery: random unit
vectors plus planted neighbours, exact faiss flat vs the index Haechi uses, same run.
"""

from __future__ import annotations

import argparse
import csv
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--gallery", type=int, nargs="+", default=[10_000, 1_000_000])
    args = ap.parse_args()
    console = Console()
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
    console.print(gt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
