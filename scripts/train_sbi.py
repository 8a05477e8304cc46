"""Train the face-manipulation detector with self-blended images and export it to ONNX.

    make model            # = .venv/bin/python scripts/train_sbi.py (needs ../shared/data, torch CPU)

Reproducible: fixed seeds; faces come from the real photos in ../shared/data (faces_*,
photos_misc: benign, real photographs) split by source photo into train / calibration / test.
Every training pair is (real face crop, its self-blended pseudo-fake), so no deepfake data is
used for training. ../shared/data/deepfake_samples (research licence) is read only to *evaluate*,
and nothing of it is written anywhere but the numbers in the report.

``--swaps F``: a share F of the training pairs are instead (real photo, the same photo with another
training photo's face swapped in by ``haechi.demo.faceswap``: landmark alignment, colour transfer,
Poisson blending) — face swaps as they are made, from the training split only.

Writes haechi/assess/models/sbi.onnx (the network), sbi.json (input spec, Platt calibration,
weight cap, measured accuracy) and bench/sbi_eval.md (the accuracy table).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

try:  # training needs torch (make model); --evaluate needs only onnxruntime
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - evaluation-only environments
    torch = None  # type: ignore[assignment]
    nn = None  # type: ignore[assignment]

from haechi.assess.sbi import CROP, FaceContext, centre_crop, face_contexts, self_blend, split_of, to_input
from haechi.signals.blazeface import box_iou

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "haechi" / "assess" / "models"


class Net(nn.Module if nn is not None else object):  # type: ignore[misc]
    """A small CNN (~0.44M parameters): a stride-2 stem, three conv blocks, global pooling."""

    def __init__(self) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                                 nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                                 nn.MaxPool2d(2))

        self.features = nn.Sequential(
            nn.Conv2d(3, 24, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True),
            block(24, 32), block(32, 64), block(64, 128),
            nn.Conv2d(128, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def load_faces(data: Path) -> dict[str, list[FaceContext]]:
    splits: dict[str, list[FaceContext]] = {"train": [], "calib": [], "test": []}
    dirs = sorted(d for d in data.iterdir() if d.is_dir() and (d.name.startswith("faces_") or d.name == "photos_misc"))
    for d in dirs:
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            rgb = np.asarray(Image.open(f).convert("RGB"))
            faces = face_contexts(rgb, max_faces=12)
            splits[split_of(f"{d.name}/{f.name}")] += faces
    return splits


def load_swaps(data: Path, rng: np.random.Generator, per_photo: int = 2,
               split: str = "train") -> list[tuple[FaceContext, FaceContext]]:
    """(real face, the same face with another photo's face swapped in), sources and targets from
    one split only (faces_* with one labelled identity), each with its own context crop."""
    from haechi.demo.faceswap import swap_detected
    from haechi.errors import InputError
    from haechi.signals.faces import engine

    eng = engine()
    photos = []
    for labels in sorted(data.glob("faces_*/labels.csv")):
        with labels.open(newline="") as fh:
            for row in csv.DictReader(fh):
                name = f"{labels.parent.name}/{row['file']}"
                if row["identity"].startswith(("MULTI", "NOFACE")) or split_of(name) != split:
                    continue
                rgb = np.asarray(Image.open(labels.parent / row["file"]).convert("RGB"))
                faces = eng.detect(rgb)
                if faces:
                    photos.append((row["identity"], rgb, faces[0]))
    out = []
    for ident, rgb, box in photos:
        others = [i for i, p in enumerate(photos) if p[0] != ident]
        for j in rng.choice(others, size=min(per_photo, len(others)), replace=False):
            _, src, s_box = photos[int(j)]
            try:
                swap = swap_detected(eng, src, s_box, rgb, box)
            except InputError:
                continue
            real = [c for c in face_contexts(rgb) if c.box == box.box()]
            fake = sorted(face_contexts(swap.rgb), key=lambda c: -box_iou(c.box, box.box()))
            if real and fake and box_iou(fake[0].box, box.box()) > 0.5:
                out.append((real[0], fake[0]))
    return out


def post(img: np.ndarray, rng: np.random.Generator, train: bool) -> np.ndarray:
    """The same degradations for real and fake: crop jitter, flip, low resolution, JPEG."""
    jitter = (rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.9, 1.1)) if train else (0, 0, 1.0)
    crop = centre_crop(img, jitter)
    if train and rng.random() < 0.5:
        crop = crop[:, ::-1]
    if train and rng.random() < 0.3:
        f = rng.uniform(0.5, 0.9)
        crop = cv2.resize(cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), (CROP, CROP))
    if not train or rng.random() < 0.8:
        q = int(rng.integers(60, 96)) if train else 85
        ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(crop[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        crop = cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(crop)


def pairs(faces: list[FaceContext], n: int, rng: np.random.Generator, train: bool,
          swaps: list[tuple[FaceContext, FaceContext]] | None = None,
          swap_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    crops, labels = [], []
    for _ in range(n):
        if swaps and rng.random() < swap_share:
            real_ctx, fake_ctx = swaps[int(rng.integers(len(swaps)))]
            crops += [post(real_ctx.rgb, rng, train), post(fake_ctx.rgb, rng, train)]
            labels += [0.0, 1.0]
            continue
        face = faces[int(rng.integers(len(faces)))]
        if train and rng.random() < 0.5:  # flip before blending: more variety of masks
            face = FaceContext(np.ascontiguousarray(face.rgb[:, ::-1]), _flip(face.hull), _flip(face.inner), face.box)
        real, fake = self_blend(face, rng)
        crops += [post(real, rng, train), post(fake, rng, train)]
        labels += [0.0, 1.0]
    return to_input(crops), np.array(labels, np.float32)


def _flip(lm: np.ndarray) -> np.ndarray:
    out = lm.copy()
    out[:, 0] = 255 - out[:, 0]
    return out  # the hull is order-free: a mirrored polygon needs no re-ordering


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def tpr_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    neg = np.sort(scores[labels == 0])
    thr = neg[min(len(neg) - 1, int(np.ceil((1 - fpr) * len(neg))) )] if len(neg) else 0.0
    return float((scores[labels == 1] > thr).mean())


def platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Fit p = sigmoid(a * logit + b) on the calibration split (Platt 1999, with his smoothed
    targets so a separable split cannot drive the slope to infinity; Newton with step halving)."""
    n_pos, n_neg = float(labels.sum()), float(len(labels) - labels.sum())
    t = np.where(labels == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def nll(a: float, b: float) -> float:
        z = a * logits + b
        return float(np.sum(np.logaddexp(0, z) - t * z))

    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * logits + b)))
        g = np.array([((p - t) * logits).sum(), (p - t).sum()])
        w = p * (1 - p)
        wl = (w * logits).sum()
        h = np.array([[(w * logits * logits).sum(), wl], [wl, w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        size, before = 1.0, nll(a, b)
        while size > 1e-6 and nll(a - size * step[0], b - size * step[1]) > before:
            size /= 2
        a, b = a - size * step[0], b - size * step[1]
        if np.abs(size * step).max() < 1e-9:
            break
    return float(a), float(b)


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """Logits from the torch model in training, or from an onnxruntime session (``--evaluate``)."""
    if hasattr(model, "run"):
        return np.concatenate([model.run(None, {"input": x[i:i + 64]})[0] for i in range(0, len(x), 64)])
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + 64])).numpy() for i in range(0, len(x), 64)])


def evaluate_samples(model: Any, data: Path) -> dict[str, object]:
    """AUC on the labelled real/fake faces (evaluation only). Score of a file = max over its faces."""
    folder = data / "deepfake_samples"
    with open(folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    scores, labels, kinds, no_face = [], [], [], 0
    for row in rows:
        rgb = np.asarray(Image.open(folder / row["file"]).convert("RGB"))
        faces = face_contexts(rgb)
        if not faces:
            no_face += 1
            continue
        s = predict(model, to_input([centre_crop(f.rgb) for f in faces]))
        scores.append(float(s.max()))
        labels.append(1.0 if row["label"] == "fake" else 0.0)
        parts = row["file"].split("_")
        kinds.append(parts[0] + ("_" + parts[1] if parts[0] == "ffpp" else ""))
    sc, lb = np.array(scores), np.array(labels)
    by_kind = {}
    for k in sorted(set(kinds)):
        sel = np.array([kk == k for kk in kinds])
        fakes = sel & (lb == 1)
        vs = auc(np.r_[sc[fakes], sc[lb == 0]], np.r_[np.ones(fakes.sum()), np.zeros((lb == 0).sum())])
        by_kind[k] = {"fakes": int(fakes.sum()), "auc_vs_all_real": vs}
    return {"files": len(rows), "no_face_found": no_face, "scored": len(sc), "fake": int(lb.sum()),
            "auc": auc(sc, lb), "tpr_at_fpr_10": tpr_at_fpr(sc, lb, 0.10), "by_kind": by_kind,
            "scores": sc, "labels": lb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-pairs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=MODELS)
    ap.add_argument("--swaps", type=float, default=0.0,
                    help="Share of training pairs that are OpenCV face swaps (haechi.demo.faceswap) instead of SBI.")
    ap.add_argument("--evaluate", action="store_true",
                    help="Re-calibrate and re-measure the exported model (no training, no torch needed).")
    args = ap.parse_args()
    if args.evaluate:
        evaluate_exported(args)
        return
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    splits = load_faces(args.data)
    print({k: len(v) for k, v in splits.items()}, f"faces found in {time.time() - t0:.0f}s", flush=True)
    swaps = load_swaps(args.data, rng) if args.swaps > 0 else []
    if args.swaps > 0:
        print(f"{len(swaps)} face-swap training pairs", flush=True)

    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.steps, pct_start=0.1)
    loss_fn = nn.BCEWithLogitsLoss()
    t0 = time.time()
    for step in range(args.steps):
        model.train()
        x, y = pairs(splits["train"], args.batch_pairs, rng, train=True, swaps=swaps, swap_share=args.swaps)
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 3, CROP, CROP), str(args.out / "sbi.onnx"), input_names=["input"],
                      output_names=["logit"], dynamic_axes={"input": {0: "n"}, "logit": {0: "n"}}, opset_version=17,
                      dynamo=False)
    meta = {"steps": args.steps, "seed": args.seed, "train_seconds": round(train_s), "swap_share": args.swaps,
            "swap_pairs": len(swaps)}
    finish(args, model, splits, meta)


def evaluate_exported(args: argparse.Namespace) -> None:
    import onnxruntime as ort

    old = json.loads((args.out / "sbi.json").read_text())
    session = ort.InferenceSession(str(args.out / "sbi.onnx"), providers=["CPUExecutionProvider"])
    splits = load_faces(args.data)
    run = {k: old.get(k, 0) for k in ("steps", "seed", "train_seconds", "swap_share", "swap_pairs")}
    finish(args, session, splits, run, trained=old["trained"])


def finish(args: argparse.Namespace, model: Any, splits: dict[str, list[FaceContext]], run: dict[str, Any],
           trained: str | None = None) -> None:
    """Calibrate on the calibration split, measure on the test split and on deepfake_samples,
    write sbi.json and the report."""
    eval_rng = np.random.default_rng(1234)
    xc, yc = pairs(splits["calib"], 400, eval_rng, train=False)
    a, b = platt(predict(model, xc), yc)
    xt, yt = pairs(splits["test"], 400, eval_rng, train=False)
    st = predict(model, xt)
    held = {"faces": len(splits["test"]), "pairs": 400, "auc": auc(st, yt), "tpr_at_fpr_1": tpr_at_fpr(st, yt, 0.01),
            "tpr_at_fpr_10": tpr_at_fpr(st, yt, 0.10)}
    test_swaps = load_swaps(args.data, np.random.default_rng(99), split="test")
    if test_swaps:
        xs = to_input([centre_crop(c.rgb) for pair in test_swaps for c in pair])
        ys = np.tile(np.array([0.0, 1.0], np.float32), len(test_swaps))
        ss = predict(model, xs)
        held_swaps = {"pairs": len(test_swaps), "auc": auc(ss, ys), "tpr_at_fpr_10": tpr_at_fpr(ss, ys, 0.10)}
    else:
        held_swaps = None
    samples = evaluate_samples(model, args.data) if (args.data / "deepfake_samples").is_dir() else None
    # how much a positive may weigh in the verdict: by what it achieved on real deepfakes
    real_auc = float(samples["auc"]) if samples else 0.5  # type: ignore[arg-type]
    cap = 0.1 if real_auc < 0.65 else 0.2 if real_auc < 0.8 else 0.35 if real_auc < 0.9 else 0.5
    meta = {
        "model": "sbi.onnx", "input": {"size": CROP, "layout": "NCHW RGB", "scale": "x/127.5-1",
                                        "crop": "haechi.assess.sbi.face_contexts + centre_crop"},
        "platt": [a, b], "weight_cap": cap, "threshold": 0.5,
        "trained": trained or datetime.now(UTC).strftime("%Y-%m-%d"), **run,
        "faces": {k: len(v) for k, v in splits.items()},
        "data": "real photos in ../shared/data (faces_*, photos_misc), their self-blended pseudo-fakes"
                + (" and OpenCV face swaps among the training photos" if run.get("swap_share") else ""),
        "eval": {"held_out_pseudo_fakes": held, "held_out_face_swaps": held_swaps,
                 "deepfake_samples": {k: v for k, v in (samples or {}).items() if k not in ("scores", "labels")}},
    }
    (args.out / "sbi.json").write_text(json.dumps(meta, indent=2) + "\n")
    write_report(meta, ROOT / "bench" / "sbi_eval.md" if args.out == MODELS else args.out / "sbi_eval.md")
    print(json.dumps(meta["eval"], indent=2))


def write_report(meta: dict[str, Any], path: Path) -> None:
    held = meta["eval"]["held_out_pseudo_fakes"]
    s = meta["eval"]["deepfake_samples"]
    lines = [f"# Learned face-manipulation detector (SBI) — accuracy ({meta['trained']})", "",
             f"Trained {meta['steps']} steps ({meta['train_seconds']} s on this machine's CPU) on "
             f"{meta['faces']['train']} real faces and their self-blended pseudo-fakes; generated by "
             "`scripts/train_sbi.py`."
             + (f" A share {meta.get('swap_share')} of training pairs were OpenCV face swaps ({meta.get('swap_pairs')} "
                "pairs from training photos, `haechi.demo.faceswap`)." if meta.get("swap_share") else ""), "",
             "| evaluation set | faces/files | AUC | TPR @ FPR 1% | TPR @ FPR 10% |", "|---|---|---|---|---|",
             f"| held-out pseudo-fakes (unseen photos) | {held['faces']} faces, {held['pairs']} pairs | "
             f"{held['auc']:.3f} | {held['tpr_at_fpr_1']:.2f} | {held['tpr_at_fpr_10']:.2f} |"]
    hs = meta["eval"].get("held_out_face_swaps")
    if hs:
        lines.append(f"| held-out OpenCV face swaps (test photos) | {hs['pairs']} pairs | {hs['auc']:.3f} | n/a | "
                     f"{hs['tpr_at_fpr_10']:.2f} |")
    if s:
        lines.append(f"| deepfake_samples (real deepfakes, eval only) | {s['scored']} of {s['files']} files "
                     f"({s['fake']} fake; no face found in {s['no_face_found']}) | {s['auc']:.3f} | n/a (too few) | "
                     f"{s['tpr_at_fpr_10']:.2f} |")
        lines += ["", "Per kind of fake (AUC of that kind's fakes against all real samples):", ""]
        lines += [f"- `{k}`: {v['fakes']} fakes, AUC {v['auc_vs_all_real']:.3f}" for k, v in s["by_kind"].items()
                  if v["fakes"]]
    lines += ["", f"Weight cap in the verdict: {meta['weight_cap']} (set from the deepfake_samples AUC: "
              "<0.65 → 0.1, <0.8 → 0.2, <0.9 → 0.35, else 0.5). A learned detector is a lead, not evidence."]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
