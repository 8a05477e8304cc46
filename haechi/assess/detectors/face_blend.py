"""Learned face-manipulation detector: a small CNN trained on self-blended images (SBI), run
with onnxruntime (no torch at run time). See :mod:`haechi.assess.sbi` for why SBI and
``scripts/train_sbi.py`` for how the committed model was trained and measured.

It scores each detected face (largest eight in an image; up to 16 sampled frames of a video,
aggregated as the mean of the top quarter of frame scores, so one odd frame does not decide).
Its weight in the verdict is the Platt-calibrated probability times a cap that the training
script derived from the AUC measured on real deepfakes — with the small training set available
it is a lead for a human, never evidence on its own.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from haechi.assess.base import DetectorResult, Media, Reason

MODEL_DIR = Path(__file__).resolve().parents[1] / "models"
#: frames of a video that are searched for faces
MAX_VIDEO_FRAMES = 16


class _Model:
    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        self.meta: dict[str, Any] = json.loads((folder / "sbi.json").read_text())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # assessments already run one process per core
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(folder / self.meta["model"]), opts,
                                            providers=["CPUExecutionProvider"])
        self.a, self.b = self.meta["platt"]

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        from haechi.assess.sbi import to_input

        logits = self.session.run(None, {"input": to_input(crops)})[0]
        return 1.0 / (1.0 + np.exp(-(self.a * np.asarray(logits, np.float64) + self.b)))


@lru_cache(maxsize=1)
def _model() -> _Model | None:
    if not (MODEL_DIR / "sbi.json").is_file():
        return None
    return _Model(MODEL_DIR)


def _face_scores(model: _Model, rgb: np.ndarray) -> list[tuple[list[int], float]]:
    from haechi.assess.sbi import centre_crop, face_contexts

    faces = face_contexts(rgb)
    if not faces:
        return []
    probs = model.probabilities([centre_crop(f.rgb) for f in faces])
    return [(f.box, float(p)) for f, p in zip(faces, probs, strict=True)]


def _video_frames(media: Media) -> list[tuple[float, np.ndarray]]:
    from haechi.media.video import VideoInfo, VideoLimits, iter_frames

    limits = VideoLimits(max_pixels=64_000_000, seconds_per_hash=1.0, max_frames=600, short_side=480)
    frames = [(f.t_s, f.rgb) for f in iter_frames(io.BytesIO(media.data), media.path, limits, VideoInfo(),
                                                  data=media.data)]
    if len(frames) > MAX_VIDEO_FRAMES:  # spread evenly over the whole video
        keep = np.linspace(0, len(frames) - 1, MAX_VIDEO_FRAMES).round().astype(int)
        frames = [frames[i] for i in keep]
    return frames


class FaceBlendDetector:
    name: ClassVar[str] = "face_manipulation"
    #: optional dependencies (auto-archiver manifest style), reported by `haechi doctor` via haechi.plugins
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("onnxruntime", "dlib", "cv2")}

    def run(self, media: Media) -> DetectorResult:
        model = _model()
        if model is None:
            return DetectorResult("unavailable", error="no trained model (run `make model`)")
        cap = float(model.meta["weight_cap"])
        threshold = float(model.meta.get("threshold", 0.5))
        data: dict[str, Any] = {"model_auc_on_real_deepfakes": model.meta["eval"]["deepfake_samples"].get("auc")}
        if media.rgb is not None:
            faces = _face_scores(model, media.rgb)
            if not faces:
                return DetectorResult("not_applicable", data={"reason": "no face found"})
            data["faces"] = [{"box": b, "probability": round(p, 3)} for b, p in faces]
            box, top = max(faces, key=lambda f: f[1])
            where = f"face at {box}"
        elif media.media_type == "video":
            per_frame = []
            for t, rgb in _video_frames(media):
                scores = _face_scores(model, rgb)
                if scores:
                    per_frame.append((t, max(p for _, p in scores)))
            if not per_frame:
                return DetectorResult("not_applicable", data={"reason": "no face found in sampled frames"})
            probs = np.sort([p for _, p in per_frame])[::-1]
            top = float(probs[: max(1, len(probs) // 4)].mean())
            data["frames"] = [{"t_s": round(t, 2), "probability": round(p, 3)} for t, p in per_frame]
            where = f"{len(per_frame)} sampled frames with faces"
        else:
            return DetectorResult("not_applicable")
        data["probability"] = round(top, 3)
        reasons = []
        if top >= threshold:
            reasons.append(Reason("face_manipulation",
                                  f"learned blend detector: {where} scores {top:.2f} for a swapped/blended face "
                                  f"(a lead only: AUC {data['model_auc_on_real_deepfakes']:.2f} on real deepfakes)",
                                  round(cap * top, 3)))
        return DetectorResult("ok", reasons, data)
