"""Face-swap test images made the way face-swap deepfakes are made, with OpenCV only.

The point of the face gallery is to find a victim's face in media she never held — most often a
face swap: her face, taken from a photo of her, pasted over someone else's in another image. The
classic pipeline (DeepFaceLab/FaceSwap-style, without the learned autoencoder) is what this does:

1. landmarks in both images (dlib's 5 points: eye corners and the base of the nose);
2. alignment: the similarity transform (rotation, uniform scale, shift) that carries her
   landmarks onto the target's (``cv2.estimateAffinePartial2D``), and her photo warped by it;
3. colour transfer: her warped face's mean and spread per channel in L*a*b* matched to the
   target face's (Reinhard et al. 2001), so skin tone and lighting agree;
4. Poisson blending (``cv2.seamlessClone``, Pérez et al. 2003) through a face-hull mask, so the
   seam takes the target's gradients.

Used by tests and ``bench/bench_faces.py`` (is the enrolled person found in a swap, and nobody
else?) and as extra training fakes for the face-manipulation detector (``scripts/train_sbi.py
--swaps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from haechi._lazy import cv2
from haechi.errors import InputError
from haechi.signals.faces import FaceBox, FaceEngine

#: the swapped region: the inner face hull (brows to mouth), as swaps replace it, in the face's own
#: frame (half width, top, bottom in interocular distances; see haechi.assess.sbi.face_ellipse)
SWAP_ELLIPSE = (0.95, -0.55, 1.45)


@dataclass(frozen=True)
class Swap:
    rgb: np.ndarray  # the target image with the source face pasted in (H x W x 3 uint8)
    box: list[int]  # the target face's box [x, y, w, h]: where the swapped face is
    mask: np.ndarray  # H x W uint8, 255 where the source face was blended in


def colour_transfer(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``src`` (RGB uint8) with each L*a*b* channel's mean and standard deviation inside ``mask``
    made equal to ``dst``'s inside the same mask (Reinhard colour transfer). Same shape as src."""
    sel = mask > 0
    if not sel.any():
        return src
    s_lab = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    d_lab = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    s_px, d_px = s_lab[sel], d_lab[sel]
    scale = (d_px.std(axis=0) + 1e-3) / (s_px.std(axis=0) + 1e-3)
    out = (s_lab - s_px.mean(axis=0)) * scale + d_px.mean(axis=0)
    return np.asarray(cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB))


def swap_face(engine: FaceEngine, source: np.ndarray, target: np.ndarray, *, target_face: int = 0,
              source_face: int = 0) -> Swap:
    """Paste the ``source_face``-th largest face of ``source`` over the ``target_face``-th largest
    face of ``target`` (both RGB uint8). Raises :class:`InputError` when either has no such face."""

    s_faces, t_faces = engine.detect(source), engine.detect(target)
    if len(s_faces) <= source_face:
        raise InputError("source", f"no face number {source_face + 1} (found {len(s_faces)})")
    if len(t_faces) <= target_face:
        raise InputError("target", f"no face number {target_face + 1} (found {len(t_faces)})")
    s_box, t_box = s_faces[source_face], t_faces[target_face]
    return swap_detected(engine, source, s_box, target, t_box)


def swap_detected(engine: FaceEngine, source: np.ndarray, s_box: FaceBox, target: np.ndarray,
                  t_box: FaceBox) -> Swap:
    """:func:`swap_face` for faces already detected."""
    from haechi.assess.sbi import face_ellipse

    s_pts, t_pts = engine.landmarks(source, s_box), engine.landmarks(target, t_box)
    m, _ = cv2.estimateAffinePartial2D(s_pts, t_pts, method=cv2.LMEDS)
    if m is None:
        raise InputError("source", "the two faces' landmarks give no alignment")
    h, w = target.shape[:2]
    warped = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # the hull in the target: the target's own face shape, so the blend stays on her face
    hull = face_ellipse(t_pts, t_box.w, SWAP_ELLIPSE)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(hull).astype(np.int32)), 255)
    # keep the mask inside the frame with a margin: seamlessClone needs room around it
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0
    ys, xs = np.nonzero(mask)
    if len(xs) < 16:
        raise InputError("target", "the target face is too small or outside the image")
    warped = colour_transfer(warped, target, mask)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centre = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
    out = cv2.seamlessClone(np.ascontiguousarray(warped), np.ascontiguousarray(target), mask, centre,
                            cv2.NORMAL_CLONE)
    return Swap(np.asarray(out), t_box.box(), mask)
