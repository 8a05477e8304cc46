"""Dense verification of a local-feature match: does the *content* agree, or only keypoints?

Why: ORB keypoints and a RANSAC similarity transform say that two images show the same
*structure*; a different shot of the same scene (a stereo pair, a burst, another photo of the
same person in the same pose) has that too — on the held-out suites 15 of 15 false matches were
such pairs, with 89–185 inliers, inside the range of true copies (issue #20). So a local match is
a ``copy`` only when the query, warped into the banked image's frame by the found transform,
agrees with the banked image cell by cell; otherwise it is a ``lead`` for a reviewer.

What is kept of a banked image for this: its *template*, the grey image at half the 640-px
working size (at most 320 px on the long side; a quarter, 160 px, in banks made before the fine
check below), stored Fernet-encrypted beside its ORB features and only for media the bank owner
provided — never for hashes a victim submitted.

Measured (``tests/test_match_verdict.py``; photos_misc motorcycle stereo pair and the demo
transforms): normalised cross-correlation of 8×8 cells after a σ=1 px blur, 25th percentile over
the cells both images cover — true copies 0.94–1.00, the whole stereo pair 0.33–0.36. A copy needs
``COPY_P25`` over at least ``MIN_CELLS`` textured cells; smooth crops with fewer cells stay leads.

Refinements (issue #20, second and third rounds):

- *Overlaid text* (meme text, stickers) covers cells, which then disagree although the image is a
  copy: cells where the query shows overlay strokes (near-white/near-black with the opposite
  extreme next to them) and far more edges than the template are left out.
- *Parallax*: a 40–55% crop of the right stereo view passed p25 (0.74–0.93) against the left view
  — on a small overlap the far field is nearly the same pixels. What differs is that near objects
  are *displaced*: their cells agree better moved by 1–2 template pixels, and blocks' phase
  correlation shows a shift. Those signs together make a lead (``Agreement.parallax``).
  At 160 px parallax under ~0.25 px is invisible: held-out crops still gave copies (5 of 20).

- *Fine check* (issue #20, third round): the 160-px template had averaged the parallax away — a
  held-out heavy crop of the right view agreed at p25 0.81–0.96 with displaced cells and block
  shifts in the noise of true copies. The same crops compared at 320 px agree at p25 0.72–0.83,
  with 19–39% displaced cells and block shifts of 0.32–0.77 px: the parallax test above, unchanged,
  makes them leads. So a banked image now keeps its template at half the working size (at most
  320 px, ``FINE_FACTOR``; the 160-px one is derived from it), and a local match is a copy only
  when the 160-px check passes *and*, when the query has the detail to show it (its pixels at most
  the fine template's in the banked frame: ``scale <= FINE_FACTOR``), the same check at 320 px
  passes too. A query coarser than that (a small screenshot, a thumbnail) has no finer detail to
  compare: the 160-px check decides, as before. Measured (bench/verify.md): false copies of heavy
  crops of the right view 8 of 120 → 0, copy-recall of the demo families unchanged (852/896).
  Limit: a viewpoint whose parts move by several pixels (not sub-pixel) still passes when one
  part fills three quarters of the overlap — p25 does not look at the rest (layered views in
  bench/verify.md: 136 → 99 false copies of 220).
- *Perspective* (a copy photographed off a screen at an angle: keystone of 4–10% of the frame):
  the similarity alignment leaves its far edges displaced by several pixels, which looks like
  another viewpoint. The local matcher now also fits a homography and keeps it when it is a
  plausible mild perspective (``index.local._perspective``); a match that fails aligned by the
  similarity is checked again aligned by the homography. Its extra freedom can bend another
  viewpoint's layers into place too — block shifts then stay small (0.11–0.25 px) while cells
  stay displaced — so there the first two signs make parallax (``Agreement.perspective``): p25
  below 0.95 with at least 6% displaced cells (of the files the three signs let through aligned
  by a homography: other-view crops 21 → 0, perspective copies 348 → 347). Trying the similarity
  first loses no copy, and only leads pay for the second warp. Measured, perspective copies /
  other-view false copies (per match), homography off → on:

  bench_verify's queries (34 perspective, 448 other-view): copies 4 → 32 (33 found), false
  copies 101 → 101; 220 more perspective copies, 400 motorcycle and 160 generated-view crops:
  16 → 192 (193 found), 22 → 22; held out (other seeds, 88 perspective, 428 other-view): 13 → 80
  (82 found), 47 → 47.
  The first two sets chose the rule; the third was run once, after.
- *Fourth round* (issue #20): (1) ``cv2.phaseCorrelate`` windows its inputs in place, and the
  block-shift sign measured half-overlapping blocks, each on pixels the one before had already
  windowed: a part moved by a whole template pixel read as 0.1–0.2 px, under ``PARALLAX_SHIFT``
  (``_block_shift`` now compares copies; the perspective numbers above were measured before this
  fix). (2) A part of another viewpoint moved by whole pixels while the rest is the same pixels
  is found by optical flow (``MOTION_*``, ``Agreement.moving``). (3) The perspective retry
  refines the keypoints' homography on the pixels (ECC, ``_refined``) and then asks more of the
  agreement (``PERSPECTIVE_P25``, ``ECC_MAX_MOVE``). (4) A PDQ match is a lead when this check
  of the same banked image clearly sees another view (``Agreement.another_view``: burst shots).
  Measured in bench/verify.md (one run, same queries): other-view false copies 101 → 58 of 448,
  copy-recall 852/896 → 895/930 with the perspective family (33 of its 34). What stays a copy is, almost
  always, the same pixels: at 320 px p25 >= 0.985 with nothing displaced — a crop that shows one
  depth of the other view, or parts that moved by under a template pixel.
- *Banks made before the fine check* have only the 160-px template (``TPL1``): their matches get
  the 160-px check alone — the earlier behaviour, with its parallax limit — and say so
  (``Verification.fine`` is None); re-banking the media gives the fine template.

The check runs in the scanning worker (the template is held by the local index, loaded with the
features), so only its numbers travel back to the parent.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass

import numpy as np

from haechi.signals.local import WORK_SIDE

#: template side = working side / FACTOR (the coarse check)
FACTOR = 4
#: fine template side = working side / FINE_FACTOR (what a bank entry stores since the fine check)
FINE_FACTOR = 2
CELL = 8
BLUR_SIGMA = 1.0
#: a cell counts only when both sides have texture (grey-level standard deviation)
MIN_CELL_STD = 3.0
MIN_CELLS = 12
COPY_P25 = 0.7
#: overlaid text and graphics (meme text, stickers): a query pixel is an overlay stroke when it is
#: near-white or near-black with the opposite extreme close by (white letters, black outline); a
#: cell is excluded when ``OVERLAY_SHARE`` of it is strokes *and* the query has ``OVERLAY_EDGES``×
#: the template's edge energy there (the banked image has no such edges: the text was added)
OVERLAY_SHARE = 0.1
OVERLAY_EDGES = 2.0
#: parallax (a different viewpoint: stereo pair, burst, step aside): the far field of a small
#: overlap is nearly the same pixels, only near objects move. Three signs together make a lead:
#: agreement below what copies give (p25 < ``PARALLAX_P25``), at least ``PARALLAX_DISPLACED`` of
#: the cells agree better moved by 1–2 template pixels than in place (displaced structure), and
#: the 90th percentile of block shifts (phase correlation, ``BLOCK`` px blocks) is at least
#: ``PARALLAX_SHIFT`` template pixels. Measured (2026-11-30, photos_misc + demo families, see
#: tests/test_match_verdict.py): crops of the right stereo view that passed p25 had p25 0.79–0.93,
#: displaced 0.08–0.21, shift 0.31–0.62; true copies with shift >= 0.25 (screenshots, album tiles,
#: blur) had displaced <= 0.07 or p25 >= 0.95, crops with displaced >= 0.08 had shift <= 0.14.
PARALLAX_P25 = 0.95
PARALLAX_DISPLACED = 0.06
PARALLAX_SHIFT = 0.25
SHIFT = 2
BLOCK = 24
#: coherent motion (issue #20, fourth round): another viewpoint whose parts move by whole template
#: pixels can pass everything above when one part fills most of the overlap (p25 looks at the
#: worst quarter only, the 1–2 px search of ``displaced`` is short, and blocks straddle parts).
#: Dense optical flow (OpenCV's DIS) from the fine template to the aligned query finds such parts:
#: a cell *moved* when the flow there is rigid (per-axis std <= ``MOTION_CELL_STD``), at least
#: ``MOTION_MIN_PX`` long, and the query moved back by it agrees (NCC >= ``MOTION_NCC``,
#: ``MOTION_GAIN`` better than in place); *coherently* when a 4-neighbour moved by nearly the same
#: vector (``MOTION_COHERENT`` px) — a rigid part, not noise or a repeated texture. At least
#: ``MOTION_SHARE`` of the compared cells, and ``MOTION_MIN_CELLS`` of them, moved coherently:
#: parallax. Run at 320 px only, and only when everything else says copy (about 4 ms). Measured
#: (bench/verify.md, 2026-12-01): every copy of every demo family <= 0.014 (meme text, quarter
#: turns: <= 8 cells); other views that passed everything else up to 0.23.
MOTION_MIN_PX = 1.0
MOTION_CELL_STD = 0.6
MOTION_NCC = 0.85
MOTION_GAIN = 0.1
MOTION_COHERENT = 0.75
MOTION_SHARE = 0.03
MOTION_MIN_CELLS = 6
#: ECC refinement of a homography (``_refined``): iterations and the change that ends them
ECC_CRITERIA = (3, 60, 1e-5)  # cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS
#: a refinement that moves a corner of the banked frame further than this (query working px) from
#: where the keypoints put it went somewhere else: the keypoints' homography is kept. Measured
#: (bench_verify's queries, 2026-12-01): perspective copies 0.4–8.5 px; other views the refined
#: homography bent into copies 9–189 px
ECC_MAX_MOVE = 12.0
#: a copy aligned by a homography must agree this well (p25, both sizes): its extra freedom bends
#: other views into place. Measured as above: perspective copies p25 >= 0.983 at 320 px (>= 0.995
#: at 160 px); other views that passed everything else 0.942–0.971 at 320 px (but one, whose
#: refinement moved 112 px)
PERSPECTIVE_P25 = 0.97
#: a PDQ match is a lead when the dense check of the same banked image shows another viewpoint
#: this clearly (``Agreement.another_view``). Measured (2026-12-01, a caseworker's 51 simulated
#: burst shots — one region moved 3–15 px — and 238 copies of 17 photos): bursts that PDQ called
#: copies had p25 0.83–0.97, displaced 0.085–0.35 and shifts 0.6–2.5 px, or moved parts; a copy
#: that the shift signs alone flagged had shift 0.53 px (a half-size copy). A second tester's
#: burst moved 15 px had p25 0.53: p25 need not be high, only not chaos.
VIEW_P25 = 0.5
VIEW_DISPLACED = 0.08
VIEW_SHIFT = 0.6
#: the window (template px; a stack blur, close to a Gaussian of sigma 6) over which brightness and
#: contrast are evened out before the flow
NORMALISE_WINDOW = 37
#: a coarse (FACTOR) template, stored by banks made before the fine check
MAGIC = b"TPL1"
#: a fine (FINE_FACTOR) template
FINE_MAGIC = b"TPL2"


@dataclass(frozen=True)
class Agreement:
    """How well an aligned query agrees with a banked template: cells compared (overlay cells
    left out), their NCC's 25th percentile and median (-1..1), cells left out as overlaid text,
    the share of compared cells that agree better displaced (0..1), and the 90th percentile of
    block shifts (template pixels)."""

    cells: int
    p25: float
    median: float
    overlay: int = 0
    displaced: float = 0.0
    #: None: not measured, because the other two signs of parallax are absent
    shift: float | None = 0.0
    #: share of compared cells that moved coherently (0..1); None: not measured (the 160-px check,
    #: or the other signs already made a lead)
    moved: float | None = None
    moved_cells: int = 0
    #: the query was aligned by a homography (a copy photographed at an angle): parallax needs only
    #: the first two signs, since the homography's extra freedom absorbs the block shifts
    perspective: bool = False

    @property
    def parallax(self) -> bool:
        return self.shifted or self.moving

    @property
    def shifted(self) -> bool:
        """Cells agree better displaced and blocks shift (``PARALLAX_*``)."""
        if self.p25 >= PARALLAX_P25 or self.displaced < PARALLAX_DISPLACED:
            return False
        return self.perspective or (self.shift is not None and self.shift >= PARALLAX_SHIFT)

    @property
    def another_view(self) -> bool:
        """Strong signs of another viewpoint, enough to overrule a PDQ match (a burst shot PDQ
        cannot tell from the photo): parts moved rigidly, or the shift signs well clear of what
        resampling and an imperfect alignment give a true copy (``VIEW_*``)."""
        return self.moving or (self.shifted and self.p25 >= VIEW_P25 and self.displaced >= VIEW_DISPLACED
                               and self.shift is not None and self.shift >= VIEW_SHIFT)

    @property
    def moving(self) -> bool:
        """Parts of the overlap moved rigidly against the rest (another viewpoint's near objects)."""
        return self.moved is not None and self.moved >= MOTION_SHARE and self.moved_cells >= MOTION_MIN_CELLS

    @property
    def is_copy(self) -> bool:
        least = PERSPECTIVE_P25 if self.perspective else COPY_P25
        return self.cells >= MIN_CELLS and self.p25 >= least and not self.parallax


@dataclass(frozen=True)
class Template:
    """A banked image's grey template: at ``FINE_FACTOR`` (``fine``) or, banked before the fine
    check, at ``FACTOR`` only."""

    image: np.ndarray
    fine: bool

    def coarse(self, bank_width: int, bank_height: int) -> np.ndarray:
        """The template at ``FACTOR`` (the fine one shrunk to the coarse size of the frame)."""
        if not self.fine:
            return self.image
        import cv2

        size = (max(1, round(bank_width / FACTOR)), max(1, round(bank_height / FACTOR)))
        return cv2.resize(self.image, size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Verification:
    """The dense check of one local match: the 160-px agreement, and the 320-px one (None when not
    run: the banked image has no fine template, the query is coarser than it, or the coarse check
    already failed). A copy needs both that were run."""

    coarse: Agreement
    fine: Agreement | None = None

    @property
    def is_copy(self) -> bool:
        return self.coarse.is_copy and (self.fine is None or self.fine.is_copy)

    @property
    def perspective(self) -> bool:
        """The query was aligned by the match's homography (the similarity's alignment failed)."""
        return self.coarse.perspective


@dataclass(frozen=True)
class Aligned:
    """A query warped into a banked image's frame at template size: grey pixels (uint8), the mask
    of what it covers (bool), and the share of overlay-stroke pixels per pixel (float32 0..1)."""

    image: np.ndarray
    mask: np.ndarray
    overlay: np.ndarray


def _working_gray(rgb: np.ndarray) -> np.ndarray:
    """The grey image at ORB's working size (as ``signals.local.orb_features`` computes it)."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = WORK_SIDE / max(h, w)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return gray


def _shrink(gray: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    import cv2

    h, w = gray.shape
    return cv2.resize(gray, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)


def make_template(rgb: np.ndarray, factor: int = FINE_FACTOR) -> np.ndarray:
    """The template of a banked image: uint8 grey at 1/``factor`` of the working size (at most
    320 px on the long side; ``FACTOR``: 160 px, what banks made before the fine check hold)."""
    return _shrink(_working_gray(rgb), factor)


def overlay_strokes(gray: np.ndarray) -> np.ndarray:
    """Overlay-stroke pixels of a grey image (uint8 0/255): near-white (>= 235) or near-black
    (<= 25) with a grey-level range of at least 150 within 5×5 — white letters with a black
    outline, black text on a light box, stickers' outlines."""
    import cv2

    kernel = np.ones((5, 5), np.uint8)
    contrast = cv2.dilate(gray, kernel).astype(np.int16) - cv2.erode(gray, kernel)
    return (((gray >= 235) | (gray <= 25)) & (contrast >= 150)).astype(np.uint8) * 255


def aligned_query(rgb: np.ndarray, matrix: tuple[float, ...], bank_width: int, bank_height: int,
                  factors: tuple[int, ...] = (FACTOR,)) -> list[Aligned]:
    """The query warped into the banked image's working frame by ``matrix`` (2×3 similarity or
    3×3 homography, query working frame → bank working frame) and shrunk to template size at each
    of ``factors``, with its mask and overlay strokes (one warp for all sizes)."""
    import cv2

    gray = _working_gray(rgb)
    size = (max(1, bank_width), max(1, bank_height))
    if len(matrix) == 9:
        h = np.asarray(matrix, np.float64).reshape(3, 3)

        def warp(x: np.ndarray, flags: int) -> np.ndarray:
            return cv2.warpPerspective(x, h, size, flags=flags, borderValue=0)
    else:
        m = np.asarray(matrix, np.float64).reshape(2, 3)

        def warp(x: np.ndarray, flags: int) -> np.ndarray:
            return cv2.warpAffine(x, m, size, flags=flags, borderValue=0)
    warped = warp(gray, cv2.INTER_LINEAR)
    mask = warp(np.full(gray.shape, 255, np.uint8), cv2.INTER_NEAREST)
    strokes = warp(overlay_strokes(gray), cv2.INTER_LINEAR)
    return [Aligned(_shrink(warped, f), _shrink(mask, f) > 250, _shrink(strokes, f).astype(np.float32) / 255)
            for f in factors]


def verify(rgb: np.ndarray, matrix: tuple[float, ...], bank_width: int, bank_height: int,
           banked: Template, homography: tuple[float, ...] = ()) -> Verification:
    """The dense check of a local match (see the module's docstring): the 160-px agreement, then,
    when it passes, the banked image has a fine template and the query's pixels are no coarser
    than it in the banked frame (similarity scale <= ``FINE_FACTOR``), the 320-px one. When that
    fails and the match has a ``homography`` (a plausible mild perspective, ``index.local``), the
    check runs again on the query aligned by it, where two signs of parallax make a lead — only
    when the 320-px check can run: the 160-px one alone let the homography bend other views into
    copies (bench/verify.md, banks made before the fine check: false copies 147 → 153)."""
    first = _verify_aligned(rgb, matrix, matrix, bank_width, bank_height, banked)
    if first.is_copy or not homography or not _fine_check_runs(matrix, banked):
        return first
    refined = _refined(rgb, homography, bank_width, bank_height, banked.image)
    second = _verify_aligned(rgb, matrix, refined, bank_width, bank_height, banked)
    return second if second.is_copy else first


def _refined(rgb: np.ndarray, homography: tuple[float, ...], bank_width: int, bank_height: int,
             fine: np.ndarray) -> tuple[float, ...]:
    """``homography`` (query working frame → bank working frame, 3×3 row-major) refined on the
    pixels: ECC (``cv2.findTransformECC``, homography motion) between the fine template and the
    query aligned by it. Why: a homography fitted to ORB keypoints at 640 px is off by a fraction
    of a template pixel at the far edge, which the 320-px check reads as parallax — a caseworker's
    screens photographed at an angle: 10 of 51 leads; refined, 51 of 51 copies, her simulated
    burst shots unchanged (a homography cannot move one part against the rest, and the checks run
    unchanged after it). The keypoint homography is kept when ECC does not converge."""
    import cv2

    aligned = aligned_query(rgb, homography, bank_width, bank_height, (FINE_FACTOR,))[0]
    h = min(aligned.image.shape[0], fine.shape[0])
    w = min(aligned.image.shape[1], fine.shape[1])
    mask = cv2.erode(aligned.mask[:h, :w].astype(np.uint8), np.ones((5, 5), np.uint8))
    start = np.eye(3, dtype=np.float32)
    try:
        _, found = cv2.findTransformECC(fine[:h, :w].astype(np.float32), aligned.image[:h, :w].astype(np.float32),
                                       start, cv2.MOTION_HOMOGRAPHY, ECC_CRITERIA, mask, 3)
    except cv2.error:  # did not converge (too little texture, too far off)
        return homography
    to_fine = np.diag([1.0 / FINE_FACTOR, 1.0 / FINE_FACTOR, 1.0])
    keypoints = np.asarray(homography, np.float64).reshape(3, 3)
    refined = np.linalg.inv(to_fine) @ np.linalg.inv(np.asarray(found, np.float64)) @ to_fine @ keypoints
    if _corner_move(keypoints, refined, bank_width, bank_height) > ECC_MAX_MOVE:
        return homography
    return tuple(float(v) for v in (refined / refined[2, 2]).ravel())


def _corner_move(a: np.ndarray, b: np.ndarray, bank_width: int, bank_height: int) -> float:
    """How far (query working px) the banked frame's corners land apart under homographies ``a``
    and ``b`` (query → bank, 3×3)."""
    corners = np.array([[0, 0, 1], [bank_width, 0, 1], [0, bank_height, 1], [bank_width, bank_height, 1]], float)
    ends = []
    for h in (a, b):
        back = corners @ np.linalg.inv(h).T
        ends.append(back[:, :2] / back[:, 2:])
    return float(np.abs(ends[0] - ends[1]).max())


def _fine_check_runs(similarity: tuple[float, ...], banked: Template) -> bool:
    """Has the banked image a fine template and the query the detail for it (its pixels no
    coarser than the fine template's in the banked frame: similarity scale <= ``FINE_FACTOR``)?"""
    m = np.asarray(similarity, np.float64).reshape(2, 3)
    return banked.fine and float(np.hypot(m[0, 0], m[1, 0])) <= FINE_FACTOR


def _verify_aligned(rgb: np.ndarray, similarity: tuple[float, ...], warp: tuple[float, ...], bank_width: int,
                    bank_height: int, banked: Template) -> Verification:
    """:func:`verify` with the query aligned by ``warp`` (the similarity itself, or a homography);
    the similarity's scale decides whether the query has the detail for the 320-px check."""
    fine = _fine_check_runs(similarity, banked)
    perspective = len(warp) == 9
    aligned = aligned_query(rgb, warp, bank_width, bank_height, (FACTOR, FINE_FACTOR) if fine else (FACTOR,))
    coarse = agreement(aligned[0], banked.coarse(bank_width, bank_height), perspective)
    if not fine or not coarse.is_copy:
        return Verification(coarse)
    return Verification(coarse, agreement(aligned[1], banked.image, perspective, motion=True))


def _cells(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows, cols, CELL*CELL) view of the cells of ``x``."""
    return x[:rows * CELL, :cols * CELL].reshape(rows, CELL, cols, CELL).transpose(0, 2, 1, 3).reshape(
        rows, cols, CELL * CELL)


def _ncc(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = p - p.mean(-1, keepdims=True)
    q = q - q.mean(-1, keepdims=True)
    d = np.sqrt((p * p).sum(-1) * (q * q).sum(-1))
    return np.where(d > 0, (p * q).sum(-1) / np.maximum(d, 1e-9), -1.0)


def _edges(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    import cv2

    return _cells(np.hypot(cv2.Sobel(x, cv2.CV_32F, 1, 0), cv2.Sobel(x, cv2.CV_32F, 0, 1)), rows, cols).mean(-1)


def _block_shift(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> float:
    """90th percentile of the sub-pixel shifts (phase correlation) of half-overlapping
    ``BLOCK``-px blocks that are covered, textured and clear of overlay (``keep``)."""
    import cv2

    window = cv2.createHanningWindow((BLOCK, BLOCK), cv2.CV_32F)
    shifts = []
    for y in range(0, a.shape[0] - BLOCK + 1, BLOCK // 2):
        for x in range(0, a.shape[1] - BLOCK + 1, BLOCK // 2):
            if not keep[y:y + BLOCK, x:x + BLOCK].all():
                continue
            # copies: cv2.phaseCorrelate windows its inputs in place (OpenCV 5.0), and the blocks
            # overlap by half: on views, every later block was measured on windowed pixels
            p, q = a[y:y + BLOCK, x:x + BLOCK].copy(), b[y:y + BLOCK, x:x + BLOCK].copy()
            if p.std() < 2 * MIN_CELL_STD or q.std() < 2 * MIN_CELL_STD:
                continue
            (dx, dy), response = cv2.phaseCorrelate(q, p, window)
            if response > 0.2:
                shifts.append(float(np.hypot(dx, dy)))
    return float(np.percentile(shifts, 90)) if len(shifts) >= 3 else 0.0


def _normalised(x: np.ndarray) -> np.ndarray:
    """``x`` (float32) with its local mean taken away and its local contrast evened out (uint8
    around 128), so that optical flow follows structure, not brightness (a brightened copy is not
    motion)."""
    import cv2

    window = (NORMALISE_WINDOW, NORMALISE_WINDOW)
    detail = x - cv2.stackBlur(x, window)
    spread = np.sqrt(np.maximum(cv2.stackBlur(detail * detail, window), 0.0)) + 4.0
    return np.clip(128.0 + 40.0 * detail / spread, 0, 255).astype(np.uint8)


def _cell_means(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Mean of each ``CELL``×``CELL`` cell of ``x`` (its first rows×cols cells), per channel."""
    import cv2

    return np.asarray(cv2.resize(x[:rows * CELL, :cols * CELL], (cols, rows), interpolation=cv2.INTER_AREA))


def _coherent_motion(a: np.ndarray, b: np.ndarray, m: np.ndarray, rows: int, cols: int, kept: np.ndarray,
                     in_place: np.ndarray) -> int:
    """How many ``kept`` cells moved coherently (``MOTION_*``): ``a`` the blurred aligned query,
    ``b`` the blurred template (float32, rows×cols cells), ``m`` where the query covers,
    ``in_place`` the cells' NCC as aligned."""
    import cv2

    source = np.where(m, a, b)  # outside the query: the template itself, no motion
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    flow = np.asarray(dis.calc(_normalised(b), _normalised(source), None), np.float32)  # type: ignore[call-overload]
    h, w = a.shape
    xx = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    yy = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    back = cv2.remap(a, xx, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    compensated = _ncc(_cells(back, rows, cols), _cells(b, rows, cols))
    mean = _cell_means(flow, rows, cols)
    spread = np.sqrt(np.maximum(_cell_means(flow * flow, rows, cols) - mean * mean, 0.0)).max(-1)
    moved = (kept & (spread <= MOTION_CELL_STD) & (np.hypot(mean[..., 0], mean[..., 1]) >= MOTION_MIN_PX)
             & (compensated >= MOTION_NCC) & (compensated - in_place >= MOTION_GAIN))
    coherent = np.zeros_like(moved)
    padded_moved = np.pad(moved, 1)
    padded_mean = np.pad(mean, ((1, 1), (1, 1), (0, 0)))
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        other = padded_moved[1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols]
        diff = mean - padded_mean[1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols]
        coherent |= other & (np.hypot(diff[..., 0], diff[..., 1]) <= MOTION_COHERENT)
    return int((moved & coherent).sum())


def agreement(aligned: Aligned, template: np.ndarray, perspective: bool = False, motion: bool = False
              ) -> Agreement:
    """Cell-wise normalised cross-correlation of an aligned query and a template (after a
    ``BLUR_SIGMA`` blur), cells covered by overlaid text left out, with the signs of parallax
    (``perspective``: the query was aligned by a homography, see :class:`Agreement`);
    ``motion``: also look for parts that moved coherently (``MOTION_*``; the fine check), when
    the rest says copy."""
    import cv2

    h = min(aligned.image.shape[0], template.shape[0])
    w = min(aligned.image.shape[1], template.shape[1])
    rows, cols = h // CELL, w // CELL
    if not rows or not cols:
        return Agreement(0, -1.0, -1.0, perspective=perspective)
    a = cv2.GaussianBlur(aligned.image[:h, :w].astype(np.float32), (0, 0), BLUR_SIGMA)
    b = cv2.GaussianBlur(template[:h, :w].astype(np.float32), (0, 0), BLUR_SIGMA)
    m = aligned.mask[:h, :w]
    ac, bc = _cells(a, rows, cols), _cells(b, rows, cols)
    covered = _cells(m.astype(np.uint8), rows, cols).all(-1)
    valid = covered & (ac.std(-1) >= MIN_CELL_STD) & (bc.std(-1) >= MIN_CELL_STD)
    overlay = (_cells(aligned.overlay[:h, :w], rows, cols).mean(-1) >= OVERLAY_SHARE) & (
        _edges(a, rows, cols) > OVERLAY_EDGES * _edges(b, rows, cols))
    kept = valid & ~overlay
    if not kept.any():
        return Agreement(0, -1.0, -1.0, int((valid & overlay).sum()), perspective=perspective)
    # NCC in place and with the query moved by up to SHIFT pixels
    padded_a, padded_m = np.pad(a, SHIFT, mode="edge"), np.pad(m, SHIFT)
    in_place = _ncc(ac, bc)
    best_moved = np.full(in_place.shape, -1.0)
    for dy in range(-SHIFT, SHIFT + 1):
        for dx in range(-SHIFT, SHIFT + 1):
            if dx == 0 and dy == 0:
                continue
            window = (slice(SHIFT + dy, SHIFT + dy + h), slice(SHIFT + dx, SHIFT + dx + w))
            ok = _cells(padded_m[window].astype(np.uint8), rows, cols).all(-1)
            score = np.where(ok, _ncc(_cells(padded_a[window], rows, cols), bc), -1.0)
            best_moved = np.maximum(best_moved, score)
    displaced = (best_moved - in_place > 0.1) & (best_moved >= 0.7)
    scores = in_place[kept]
    p25, share = float(np.percentile(scores, 25)), float(displaced[kept].mean())
    shift: float | None = None
    if p25 < PARALLAX_P25 and share >= PARALLAX_DISPLACED:  # else no parallax whatever the shift
        keep_px = np.repeat(np.repeat(covered & ~overlay, CELL, 0), CELL, 1)
        shift = _block_shift(a[:rows * CELL, :cols * CELL], b[:rows * CELL, :cols * CELL], keep_px)
    result = Agreement(int(kept.sum()), p25, float(np.median(scores)), int((valid & overlay).sum()), share, shift,
                       perspective=perspective)
    if not motion or not result.is_copy:
        return result
    area = (slice(0, rows * CELL), slice(0, cols * CELL))
    moved = _coherent_motion(a[area], b[area], m[area], rows, cols, kept, in_place)
    return dataclasses.replace(result, moved=moved / result.cells, moved_cells=moved)


def pack(template: np.ndarray, fine: bool = True) -> bytes:
    """Bytes appended after a :class:`~haechi.signals.local.LocalFeatures` blob: a fine template
    (``FINE_MAGIC``) or, as banks made before the fine check stored it, a coarse one (``MAGIC``)."""
    h, w = template.shape
    return (FINE_MAGIC if fine else MAGIC) + struct.pack(">HH", h, w) + np.ascontiguousarray(
        template, np.uint8).tobytes()


def unpack_after_features(blob: bytes) -> Template | None:
    """The template stored after the features in ``blob`` (None: banked before templates)."""
    n = int(np.frombuffer(blob[:4], dtype=np.int32)[0]) if len(blob) >= 12 else 0
    start = 12 + n * 8 + n * 32
    magic = blob[start:start + 4]
    if magic not in (MAGIC, FINE_MAGIC):
        return None
    h, w = struct.unpack(">HH", blob[start + 4:start + 8])
    data = np.frombuffer(blob[start + 8:start + 8 + h * w], dtype=np.uint8)
    return Template(data.reshape(h, w), magic == FINE_MAGIC) if data.size == h * w else None
