"""Scan analysed media against banks: exact hashes, PDQ (+ rotations/mirrors, + border-trimmed),
then local features with geometric verification for what PDQ cannot see."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haechi.config import DEFAULT_FACE_THRESHOLD as FACE_MATCH_THRESHOLD
from haechi.errors import InputError, NotFound
from haechi.index.hamming import HammingIndex, as_codes
from haechi.index.local import LocalHit, LocalIndex, rotation_name
from haechi.services.analyse import AnalyseOptions, MediaRecord, analyse, region_features, region_pdq
from haechi.services.banks import item_enabled
from haechi.services.faces import Gallery
from haechi.services.matching import HitVerifier
from haechi.services.parallel import ordered_map
from haechi.signals import template
from haechi.signals import vpdq as vpdq_signal
from haechi.signals.faces import MIN_SHARPNESS
from haechi.signals.local import QUERY_FEATURES, orb_features
from haechi.signals.pdq import MIRRORED_TRANSFORMS, TRANSFORMS, compose
from haechi.signals.regions import Region
from haechi.sources import MediaRef, iter_media
from haechi.store.models import Bank, BankEntry, VideoHash

if TYPE_CHECKING:
    from haechi.runtime import Runtime

#: faces: a match must beat the next subject by this much (cosine); "strong" from this far above
#: the threshold; smaller faces (px, shorter side) give no reliable embedding; candidates looked at
FACE_MARGIN = 0.02
FACE_STRONG = 0.03
MIN_FACE_PX = 40
FACE_CANDIDATES = 20

#: order of methods in a match list when distances tie: exact before perceptual before local
_METHOD_RANK = {"exact": 0, "vpdq": 1, "pdq": 1, "pdq_trimmed": 2, "pdq_band": 2, "pdq_region": 2, "local": 3}


@dataclass(frozen=True)
class EntryInfo:
    id: int
    bank: str
    bank_id: int
    label: str | None
    signal_type: str
    content_ref: str | None


@dataclass
class RawHits:
    """Index hits for one record, before they are resolved against the database."""

    #: label, distance, transform, method, indexed code (hex; checked against the entry's signal)
    pdq: list[tuple[int, int, str, str, str]] = field(default_factory=list)
    #: video queries: (query frame index, label, distance, transform, method, indexed code) per frame hit
    frames: list[tuple[int, int, int, str, str, str]] = field(default_factory=list)
    #: hit, transform, its dense verification (None: no template, a lead), and the region of the
    #: image it was found in (None: the whole image)
    local: list[tuple[LocalHit, str, template.Verification | None, list[int] | None]] = field(default_factory=list)
    #: region PDQ hits on banked images: label -> (distance, transform, code, region box), the closest
    regions: dict[int, tuple[int, str, str, list[int]]] = field(default_factory=dict)
    #: with --faces: one dict per detected face ({box, subject, similarity, match[, t_s]})
    faces: list[dict[str, Any]] | None = None
    #: with --assess: the synthetic-media assessment of the file
    assessment: dict[str, Any] | None = None


@dataclass(frozen=True)
class SearchContext:
    """Read-only indexes a scan searches. Set before the worker pool forks, so workers share
    the memory instead of receiving a copy with every task."""

    opts: AnalyseOptions
    pdq_index: HammingIndex
    local_index: LocalIndex | None
    threshold: int
    quality_floor: int
    gallery: Gallery | None = None
    face_threshold: float = FACE_MATCH_THRESHOLD
    assess: bool = False

    def search(self, record: MediaRecord) -> RawHits:
        raw = RawHits()
        if record.error is not None:
            return raw
        if record.face_data is not None:
            raw.faces = self.search_faces(record)
        if record.frames:
            raw.frames = self._video(record)
            return raw
        if record.pdq is not None and (record.pdq_quality or 0) >= self.quality_floor:
            variants = record.variants or (record.pdq,)
            names = TRANSFORMS[: len(variants)]
            if record.mirror_variants:
                variants += record.mirror_variants
                names += MIRRORED_TRANSFORMS
            raw.pdq += self._pdq(variants, names, "pdq")
        if record.trimmed_variants and (record.trimmed_quality or 0) >= self.quality_floor:
            raw.pdq += self._pdq(record.trimmed_variants, TRANSFORMS, "pdq_trimmed")
        if record.band_variants and (record.band_quality or 0) >= self.quality_floor:
            # only banked video frames carry band hashes; keep hits on those
            raw.pdq += [h for h in self._pdq(record.band_variants, TRANSFORMS, "pdq_band") if h[0] < 0]
        if self.local_index is not None and record.local is not None and len(record.local):
            raw.local = [self._local(record.rgb, hit, rotation_name(hit.rotation_deg), None)
                         for hit in self.local_index.search(record.local)]
        if record.regions and record.rgb is not None:
            self._search_regions(record, raw)
        if (self.local_index is not None and record.local is not None and len(record.local) and not raw.pdq
                and not raw.local and not raw.regions and record.rgb is not None):
            # mirrored copies (often also cropped): ORB is not mirror-invariant, so look
            # again at the mirrored image — only when nothing else matched
            flipped = record.rgb[:, ::-1]
            mirrored = orb_features(flipped, len(record.local) or QUERY_FEATURES, spread=self.opts.regions)
            raw.local = [self._local(flipped, hit, compose(rotation_name(hit.rotation_deg), "flip_h"), None)
                         for hit in self.local_index.search(mirrored)]
        return raw

    def _search_regions(self, record: MediaRecord, raw: RawHits) -> None:
        """Search the pictures inside the image (issue #20), only where that can add something:
        none when the whole image already matched by PDQ (it *is* a banked image); none that a
        verified local copy already covers; PDQ first, and local features only for a region PDQ
        did not find, at most ``MAX_REGION_SEARCHES`` per image (largest first)."""
        assert record.rgb is not None
        if any(label >= 0 for label, *_ in raw.pdq):
            return
        covered = [self._footprint(record, hit) for hit, _t, agree, _w in raw.local
                   if agree is not None and agree.is_copy]
        searched = 0
        for region in record.regions:
            if any(_covers(box, region) for box in covered):
                continue
            signals = region_pdq(record.rgb, region, self.opts.dihedral)
            found = False
            if signals.quality >= self.quality_floor:
                for label, dist, transform, _method, code in self._pdq(signals.variants, TRANSFORMS, "pdq_region"):
                    if label >= 0:
                        found = True
                        if label not in raw.regions or dist < raw.regions[label][0]:
                            raw.regions[label] = (dist, transform, code, signals.box)
            if found or self.local_index is None or not self.opts.local_features or searched >= MAX_REGION_SEARCHES:
                continue
            searched += 1
            features, pixels = region_features(record.rgb, region, self.opts.local_features)
            if len(features):
                raw.local += [self._local(pixels, hit, rotation_name(hit.rotation_deg), signals.box)
                              for hit in self.local_index.search(features)]

    def _footprint(self, record: MediaRecord, hit: LocalHit) -> tuple[float, float, float, float]:
        """Bounding box (x0, y0, x1, y1, the image's decoded pixels) of where the banked image of
        ``hit`` lies in the whole image."""
        assert record.rgb is not None and record.local is not None and self.local_index is not None
        width, height = self.local_index.frame(hit.label)
        m = np.vstack([np.asarray(hit.matrix, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
        corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
        inverse = np.linalg.inv(m)[:2]
        mapped = (corners @ inverse[:, :2].T + inverse[:, 2]) * (record.rgb.shape[1] / max(1, record.local.width))
        return (float(mapped[:, 0].min()), float(mapped[:, 1].min()), float(mapped[:, 0].max()),
                float(mapped[:, 1].max()))

    def _local(self, rgb: Any, hit: LocalHit, transform: str, where: list[int] | None
               ) -> tuple[LocalHit, str, template.Verification | None, list[int] | None]:
        """A local hit with its dense verification (``signals.template``): the query warped into
        the banked image's frame and compared with its template, here in the worker that holds
        the pixels, aligned by the hit's similarity or, when that fails and the hit has a plausible
        homography (a copy photographed at an angle), by that. None when the banked image has no
        template (banked before templates): a lead."""
        bank_template = self.local_index.template(hit.label) if self.local_index is not None else None
        if rgb is None or not hit.matrix or bank_template is None or self.local_index is None:
            return hit, transform, None, where
        width, height = self.local_index.frame(hit.label)
        verification = template.verify(rgb, hit.matrix, width, height, bank_template, hit.homography)
        return hit, transform, verification, where

    def search_faces(self, record: MediaRecord) -> list[dict[str, Any]]:
        """Each detected face with its most similar enrolled subject. A match is a lead for a
        reviewer: the subject is named only when her similarity clears the threshold *and* beats
        every other subject's by ``FACE_MARGIN`` (issue #20: a never-enrolled face once reached
        0.923 against 0.92); ``band`` says how strong ("strong" from ``FACE_STRONG`` above the
        threshold, else "possible"); faces too small (``too_small``) or too blurred (``blurred``,
        :data:`haechi.signals.faces.MIN_SHARPNESS`) for a reliable embedding are marked so and
        never matched."""
        out = []
        for box, emb, t_s in record.face_data or []:
            face: dict[str, Any] = {"box": box.box(), "subject": None, "similarity": None, "match": False,
                                    "band": None}
            if min(box.w, box.h) < MIN_FACE_PX:
                face["too_small"] = True
            elif box.sharpness is not None and box.sharpness < MIN_SHARPNESS:
                face["blurred"] = True  # its embedding drifts towards other people's
            elif emb is not None and self.gallery is not None:
                per_subject: dict[str, float] = {}
                for hit in self.gallery.index.search(emb, k=FACE_CANDIDATES)[0]:
                    subject = self.gallery.subjects.get(hit.label)
                    if subject is not None and hit.similarity > per_subject.get(subject, -1.0):
                        per_subject[subject] = hit.similarity
                ranked = sorted(per_subject.items(), key=lambda kv: -kv[1])
                if ranked:
                    subject, best = ranked[0]
                    runner_up = ranked[1][1] if len(ranked) > 1 else -1.0
                    face["similarity"] = round(best, 4)
                    face["match"] = best >= self.face_threshold and best - runner_up >= FACE_MARGIN
                    if face["match"]:
                        face["subject"] = subject
                        face["band"] = "strong" if best >= self.face_threshold + FACE_STRONG else "possible"
            if t_s is not None:
                face["t_s"] = t_s
            out.append(face)
        return out

    def _video(self, record: MediaRecord) -> list[tuple[int, int, int, str, str, str]]:
        """All frames' variants in one index search; hits keep their query frame."""
        rows: list[str] = []
        owners: list[tuple[int, str, str]] = []
        for i, f in enumerate(record.frames or []):
            if f.quality < self.quality_floor:
                continue
            groups = [(f.variants or (f.pdq,), TRANSFORMS, "pdq"), (f.mirror_variants, MIRRORED_TRANSFORMS, "pdq"),
                      (f.trimmed_variants, TRANSFORMS, "pdq_trimmed"),
                      (f.band_variants if f.band_quality >= self.quality_floor else (), TRANSFORMS, "pdq_band")]
            for variants, names, method in groups:
                rows += variants
                owners += [(i, names[k], method) for k in range(len(variants))]
        if not rows or len(self.pdq_index) == 0:
            return []
        hits = self.pdq_index.search(as_codes(rows), self.threshold)
        out = []
        for i, (q, label, dist) in enumerate(zip(hits.query.tolist(), hits.label.tolist(), hits.distance.tolist(),
                                                 strict=True)):
            frame, transform, method = owners[q]
            out.append((frame, label, dist, transform, method, hits.code_hex(i)))
        return out

    def _pdq(self, variants: tuple[str, ...], names: tuple[str, ...], method: str
             ) -> list[tuple[int, int, str, str, str]]:
        if not variants or len(self.pdq_index) == 0:
            return []
        hits = self.pdq_index.search(as_codes(list(variants)), self.threshold)
        order = np.lexsort((hits.query, hits.distance))
        return [(int(hits.label[i]), int(hits.distance[i]), names[int(hits.query[i])], method, hits.code_hex(int(i)))
                for i in order]


#: PDQ matches of the whole image (a region's match is checked by its own local search)
_PDQ_METHODS = ("pdq", "pdq_trimmed")

#: local-feature searches of regions per image (the largest regions PDQ did not find)
MAX_REGION_SEARCHES = 8


def _covers(box: tuple[float, float, float, float], region: Region) -> bool:
    """Does ``box`` (x0, y0, x1, y1) cover most (60%) of ``region``?"""
    w = min(box[2], region.x + region.w) - max(box[0], region.x)
    h = min(box[3], region.y + region.h) - max(box[1], region.y)
    return w > 0 and h > 0 and w * h >= 0.6 * region.w * region.h


_context: SearchContext | None = None


def set_search_context(context: SearchContext | None) -> None:
    global _context
    _context = context


def analyse_and_search(ref: MediaRef) -> tuple[MediaRecord, RawHits]:
    """Worker task: analyse one media reference and search the shared indexes."""
    assert _context is not None, "set_search_context() before scanning"
    record = analyse(ref, _context.opts)
    raw = _context.search(record)
    if _context.assess:
        from haechi.assess.run import AssessOptions, assess_ref

        result = assess_ref(ref, AssessOptions(_context.opts.max_pixels, _context.opts.max_file_bytes))
        raw.assessment = {k: result[k] for k in ("verdict", "score", "reasons", "detectors")}
    record.local = record.rgb = None  # pixels and features stay in the worker; hits travel back
    record.regions = []
    record.face_data = None  # embeddings too
    return record, raw


def _agreement_fields(agree: template.Agreement) -> dict[str, Any]:
    """A dense check's numbers as a match reports them (README "Scan output")."""
    return {"cells": agree.cells, "p25": round(agree.p25, 3), "median": round(agree.median, 3),
            "overlay_cells": agree.overlay, "displaced": round(agree.displaced, 3),
            "shift_px": None if agree.shift is None else round(agree.shift, 2),
            "moved": None if agree.moved is None else round(agree.moved, 3), "parallax": agree.parallax}


def _verification_fields(agree: template.Verification) -> dict[str, Any]:
    """A local match's dense check as it reports it: the 160-px numbers, the 320-px ones under
    ``fine``, and the alignment that was used."""
    return {**_agreement_fields(agree.coarse), "fine": None if agree.fine is None else _agreement_fields(agree.fine),
            "alignment": "perspective" if agree.perspective else "similarity"}


class Scanner:
    """Resolves index hits to bank entries (in the process that holds the database session)."""

    def __init__(self, session: Session, bank_names: dict[int, str], quality_floor: int = 50,
                 query_match_percent: float = vpdq_signal.DEFAULT_QUERY_MATCH_PERCENT,
                 compared_match_percent: float = vpdq_signal.DEFAULT_COMPARED_MATCH_PERCENT,
                 seconds_per_hash: float = 1.0) -> None:
        self.session = session
        self.bank_names = bank_names
        self.quality_floor = quality_floor
        self.query_match_percent = query_match_percent
        self.compared_match_percent = compared_match_percent
        self.seconds_per_hash = seconds_per_hash
        self._entries: dict[int, EntryInfo | None] = {}
        self._verifier = HitVerifier(session)
        self._videos: dict[int, list[vpdq_signal.VpdqFrame]] = {}

    def _video_frames(self, entry_id: int) -> list[vpdq_signal.VpdqFrame]:
        if entry_id not in self._videos:
            blob = self.session.scalar(select(VideoHash.data).where(VideoHash.entry_id == entry_id))
            self._videos[entry_id] = vpdq_signal.unpack(blob) if blob is not None else []
        return self._videos[entry_id]

    def _resolve(self, ids: list[int]) -> None:
        missing = [i for i in set(ids) if i not in self._entries]
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            rows = self.session.execute(
                select(BankEntry.id, BankEntry.bank_id, BankEntry.label, BankEntry.signal_type,
                       BankEntry.content_ref, BankEntry.disable_until_ts).where(BankEntry.id.in_(chunk))).all()
            found = {r[0]: r for r in rows}
            now = time.time()
            for entry_id in chunk:
                row = found.get(entry_id)
                if row is None or row[1] not in self.bank_names or not item_enabled(row[5], now):
                    self._entries[entry_id] = None  # deleted, disabled, or in a bank not scanned
                else:
                    self._entries[entry_id] = EntryInfo(row[0], self.bank_names[row[1]], row[1], row[2],
                                                        row[3], row[4])

    def _exact(self, record: MediaRecord) -> list[tuple[EntryInfo, int, str, str]]:
        conds = [(BankEntry.signal_type == "sha256") & (BankEntry.signal == record.sha256),
                 (BankEntry.signal_type == "md5") & (BankEntry.signal == record.md5)]
        rows = self.session.execute(
            select(BankEntry.id).where(conds[0] | conds[1],
                                       BankEntry.bank_id.in_(list(self.bank_names)))).scalars().all()
        self._resolve(list(rows))
        out = []
        for entry_id in rows:
            info = self._entries.get(entry_id)
            if info is not None:
                out.append((info, 0, "original", "exact"))
        return out

    def match(self, record: MediaRecord, raw: RawHits) -> list[dict[str, Any]]:
        if record.sha256 is None:
            return []
        found = self._exact(record)
        if record.error is not None:  # bytes read but not decoded (cut off, corrupt, a format outside the
            # allow-list): no PDQ, but an exact copy of banked bytes is still that material (#16)
            return [{"bank": info.bank, "entry_id": info.id, "label": info.label, "signal_type": info.signal_type,
                     "distance": distance, "transform": transform, "method": method, "verdict": "copy"}
                    for info, distance, transform, method in found]
        extra: dict[int, dict[str, Any]] = {}
        if record.frames is not None:
            return self._video_matches(record, raw, found)
        self._verifier.prefetch([h[0] for h in raw.pdq])
        pdq_hits = [h for h in raw.pdq if self._verifier.ok(h[0], h[4])]  # stale index slots never match
        self._resolve([h[0] if h[0] >= 0 else vpdq_signal.split_label(h[0])[0] for h in pdq_hits])
        best_frame: dict[int, tuple[int, int, str, str]] = {}
        for label, distance, transform, method, _code in pdq_hits:
            if label < 0:  # a frame of a banked video: keep the closest frame per video
                entry_id, number = vpdq_signal.split_label(label)
                if entry_id not in best_frame or distance < best_frame[entry_id][0]:
                    best_frame[entry_id] = (distance, number, transform, method)
                continue
            info = self._entries.get(label)
            if info is not None:
                found.append((info, distance, transform, method))
        for entry_id, (distance, number, transform, method) in best_frame.items():
            info = self._entries.get(entry_id)
            frames = self._video_frames(entry_id) if info is not None else []
            if info is not None and number < len(frames):
                found.append((info, distance, transform, method))
                extra[info.id] = {"signal_type": "video_frame", "t_s": frames[number].t_s}
        for label, (distance, transform, code, box) in raw.regions.items():
            if self._verifier.ok(label, code):
                self._resolve([label])
                info = self._entries.get(label)
                if info is not None and all(info.id != f[0].id for f in found):
                    found.append((info, distance, transform, "pdq_region"))
                    extra[info.id] = {"region": box}
        if raw.local:
            seen_content = {info.content_ref for info, *_ in found if info.content_ref}
            seen_ids = {info.id for info, *_ in found}
            best: dict[int, tuple[tuple[bool, int], EntryInfo, LocalHit, str, dict[str, Any]]] = {}
            for hit, transform, agree, where in raw.local:
                self._resolve([hit.label])
                info = self._entries.get(hit.label)
                if info is None or info.id in seen_ids or (info.content_ref in seen_content):
                    continue
                copy = agree is not None and agree.is_copy
                details: dict[str, Any] = {
                    "inliers": hit.inliers, "near_identical": hit.near_identical,
                    "scale": round(hit.scale, 3), "rotation_deg": round(hit.rotation_deg, 1),
                    "coverage": round(hit.coverage, 3), "verdict": "copy" if copy else "lead",
                    "agreement": None if agree is None else _verification_fields(agree)}
                if where is not None:
                    details["region"] = where
                rank = (copy, hit.inliers)  # a verified copy before a lead, then the stronger hit
                if info.id not in best or rank > best[info.id][0]:
                    best[info.id] = (rank, info, hit, transform, details)
            for _rank, info, hit, transform, details in best.values():
                found.append((info, hit.distance, transform, "local"))
                extra[info.id] = details
        other_view = self._other_views(raw)
        matches: dict[int, dict[str, Any]] = {}
        for info, distance, transform, method in sorted(
                found, key=lambda f: (_METHOD_RANK[f[3]], f[1])):
            if info.id in matches:
                continue
            signal_type = "orb" if method == "local" else info.signal_type
            m: dict[str, Any] = {"bank": info.bank, "entry_id": info.id, "label": info.label,
                                 "signal_type": signal_type, "distance": distance,
                                 "transform": transform, "method": method, "verdict": "copy"}
            m.update(extra.get(info.id, {}))
            if method in _PDQ_METHODS and info.id in other_view:
                # PDQ cannot tell a burst shot from the photo (one part moved a few pixels: 14 of
                # 17 simulated bursts were PDQ copies, one at distance 0); the dense check, run
                # on the same banked image, saw another viewpoint (parallax): a lead
                m["verdict"] = "lead"
                m["lead_reason"] = "parallax"
                m["agreement"] = other_view[info.id]
            matches[info.id] = m
        return sorted(matches.values(), key=lambda m: (_METHOD_RANK[m["method"]], m["distance"]))

    def _other_views(self, raw: RawHits) -> dict[int, dict[str, Any]]:
        """Entries whose whole-image local match shows another viewpoint clearly (the dense check
        found moved parts or strong shifts, ``Agreement.another_view``, and no alignment made a
        copy), with that check's numbers: a PDQ match of such an entry is a lead, not a copy
        (issue #20: burst shots)."""
        out: dict[int, dict[str, Any]] = {}
        for hit, _transform, agree, where in raw.local:
            if agree is None or where is not None or agree.is_copy:
                continue
            if not (agree.coarse.another_view or (agree.fine is not None and agree.fine.another_view)):
                continue
            self._resolve([hit.label])
            info = self._entries.get(hit.label)
            if info is not None:
                out[info.id] = _verification_fields(agree)
        return out

    def _video_matches(self, record: MediaRecord, raw: RawHits,
                       found: list[tuple[EntryInfo, int, str, str]]) -> list[dict[str, Any]]:
        """vPDQ comparison of a query video with every banked video that shares a frame.

        The index gives frame pairs within the distance; percentages follow the reference
        (quality floor, identical hashes counted once). A banked image seen in a frame is
        reported as a ``pdq`` match with the frame's time.
        """
        qframes = record.frames or []
        good_q = vpdq_signal.unique_good(record.vpdq(), self.quality_floor)
        q_unique = {f.pdq: k for k, f in enumerate(good_q)}
        q_index_of = [q_unique.get(f.pdq, -1) for f in qframes]
        per_entry: dict[int, dict[str, Any]] = {}
        images: dict[int, tuple[int, int, str, str]] = {}
        self._verifier.prefetch([h[1] for h in raw.frames])
        frame_hits = [h for h in raw.frames if self._verifier.ok(h[1], h[5])]  # stale index slots never match
        entry_ids = [vpdq_signal.split_label(h[1])[0] if h[1] < 0 else h[1] for h in frame_hits]
        self._resolve(entry_ids)
        for qf, label, dist, transform, method, _code in frame_hits:
            if label >= 0:
                best = images.get(label)
                if best is None or dist < best[1]:
                    images[label] = (qf, dist, transform, method)
                continue
            entry_id, number = vpdq_signal.split_label(label)
            if self._entries.get(entry_id) is None:
                continue
            e = per_entry.setdefault(entry_id, {"q": set(), "c": set(), "transforms": {}, "best": 256})
            if q_index_of[qf] >= 0:
                e["q"].add(q_index_of[qf])
            e["c"].add(number)
            e["transforms"][transform] = e["transforms"].get(transform, 0) + 1
            e["best"] = min(e["best"], dist)
        out: list[dict[str, Any]] = []
        for info, distance, transform, method in found:  # exact copies of the file
            out.append({"bank": info.bank, "entry_id": info.id, "label": info.label,
                        "signal_type": info.signal_type, "distance": distance, "transform": transform,
                        "method": method, "verdict": "copy"})
        exact_content = {info.content_ref for info, *_ in found if info.content_ref}
        for entry_id, e in per_entry.items():
            vinfo = self._entries[entry_id]
            assert vinfo is not None
            target = vpdq_signal.unique_good(self._video_frames(entry_id), self.quality_floor)
            c_unique = {f.number for f in target}
            c_hashes = {f.pdq for f in target}
            all_c = self._video_frames(entry_id)
            matched_c = {all_c[n].pdq for n in e["c"] if n < len(all_c)} & c_hashes
            q_pct = 100.0 * len(e["q"]) / max(1, len(good_q))
            c_pct = 100.0 * len(matched_c) / max(1, len(c_unique))
            if q_pct < self.query_match_percent or c_pct < self.compared_match_percent:
                continue
            if vinfo.content_ref in exact_content:
                continue  # the same file already reported as an exact match
            times = [good_q[k].t_s for k in e["q"]]
            gap = 2 * self.seconds_per_hash
            out.append({"bank": vinfo.bank, "entry_id": vinfo.id, "label": vinfo.label, "signal_type": "vpdq",
                        "query_match_percent": round(q_pct, 1), "compared_match_percent": round(c_pct, 1),
                        "matched_segments": vpdq_signal.segments(times, gap),
                        "compared_segments": vpdq_signal.segments(
                            [all_c[n].t_s for n in e["c"] if n < len(all_c)], gap),
                        "distance": e["best"], "transform": max(e["transforms"], key=e["transforms"].get),
                        "method": "vpdq", "verdict": "copy"})
        for label, (qf, dist, transform, method) in images.items():
            iinfo = self._entries.get(label)
            if iinfo is None or iinfo.signal_type != "pdq":
                continue
            out.append({"bank": iinfo.bank, "entry_id": iinfo.id, "label": iinfo.label, "signal_type": "pdq",
                        "distance": dist, "transform": transform, "method": method, "t_s": qframes[qf].t_s,
                        "verdict": "copy"})
        return sorted(out, key=lambda m: (_METHOD_RANK[m["method"]], -m.get("query_match_percent", 0),
                                          m["distance"]))


# -- use-cases (take a Runtime; the facade and the doors call these) --------------------------------

#: printed with every face match: the output is a lead, not an identification
FACE_NOTE = ("A face match is a lead for a human reviewer, never a verdict: similar-looking people "
             "and deepfakes both produce matches. Check before acting.")


def search_context(rt: Runtime, banks: list[str] | None = None, threshold: int | None = None,
                   faces: bool = False, assess: bool = False) -> tuple[SearchContext, dict[int, str]]:
    """What a scan searches (indexes brought up to date, analysis options) and the scanned
    banks' names by id. Raises InputError (threshold outside 0..128), NotFound (a named bank)."""
    from haechi.services import faces as face_service

    threshold = rt.settings.pdq_threshold if threshold is None else threshold
    if not 0 <= threshold <= 128:
        raise InputError(str(threshold), "threshold must be between 0 and 128")
    with rt.db.session() as s:
        query = select(Bank.id, Bank.name, Bank.matching_enabled_ratio)
        if banks:
            query = query.where(Bank.name.in_(banks))
        rows = s.execute(query).all()
        for wanted in banks or []:
            if wanted not in {r[1] for r in rows}:
                raise NotFound("bank", wanted)
        bank_names = {int(r[0]): r[1] for r in rows if bank_matches(r[2], None)}  # a disabled bank: none
        local_index = rt.local_index(s, list(bank_names)) if rt.settings.local_features else None
    pdq_index = rt.refresh_index()
    gallery = None
    if faces:
        from haechi.signals.faces import engine

        # load the models once, before the workers fork, so they share them
        engine(cnn=rt.settings.face_cnn, detector=rt.settings.face_detector)
        with rt.db.session() as s:
            gallery = face_service.load_gallery(s, rt.cipher)
    opts = rt.analyse_options(dihedral=True, trim=True, faces=faces, regions=rt.settings.composite_search,
                              local_features=QUERY_FEATURES if local_index is not None else 0)
    return SearchContext(opts, pdq_index, local_index, threshold, rt.settings.quality_floor,
                         gallery, rt.settings.face_threshold, assess), bank_names


def _scanner(rt: Runtime, s: Session, bank_names: dict[int, str]) -> Scanner:
    """A Scanner for one scan, with the home's vPDQ settings (the dense check of local-feature
    hits runs in the searching process, against the index's templates)."""
    return Scanner(s, bank_names, rt.settings.quality_floor, rt.settings.vpdq_query_match_percent,
                   rt.settings.vpdq_compared_match_percent, rt.settings.video_seconds_per_hash)


def scan_refs(rt: Runtime, refs: Iterable[MediaRef], banks: list[str] | None = None, threshold: int | None = None,
              faces: bool = False, assess: bool = False) -> Iterator[dict[str, Any]]:
    """Scan media references from any source (files, web captures, exports) against ``banks``
    (all when None). Yields per file the ``hash`` fields plus ``matches`` (best first); with
    ``faces`` also ``faces``; with ``assess`` also ``assessment``.

    Raises InputError (threshold outside 0..128), NotFound (a named bank does not exist)."""
    context, bank_names = search_context(rt, banks, threshold, faces, assess)
    if rt.settings.workers > 1:  # workers fork below: what they may call natively is loaded first
        from haechi._lazy import preload

        preload()
    set_search_context(context)
    try:
        with rt.db.session() as s:
            scanner = _scanner(rt, s, bank_names)
            for record, raw in ordered_map(analyse_and_search, refs, rt.settings.workers):
                out = record.public()
                out["matches"] = scanner.match(record, raw)
                if record.regions_skipped:
                    out["regions_skipped"] = record.regions_skipped
                if faces:
                    out["faces"] = raw.faces or []
                    if any(f["match"] for f in out["faces"]):
                        out["faces_note"] = FACE_NOTE
                if assess:
                    out["assessment"] = raw.assessment
                yield out
    finally:
        set_search_context(None)


def scan_analysed(rt: Runtime, ref: MediaRef, analyse_in: Callable[[Callable[[MediaRef], MediaRecord], MediaRef],
                                                                   MediaRecord],
                  banks: list[str] | None = None) -> dict[str, Any]:
    """:func:`scan_refs` of one reference whose analysis runs elsewhere: ``analyse_in(fn, ref)``
    runs ``fn(ref)`` — the API's hashing pool — while the search and the matching (the same
    :class:`SearchContext` and :class:`Scanner` as every scan) run here, over this process's
    up-to-date indexes. The ``hash`` fields plus ``matches``. Raises NotFound (a named bank)."""
    context, bank_names = search_context(rt, banks)
    record = analyse_in(partial(analyse, opts=context.opts), ref)
    raw = context.search(record)
    record.local = record.rgb = None
    with rt.db.session() as s:
        out = record.public()
        out["matches"] = _scanner(rt, s, bank_names).match(record, raw)
    return out


def scan_paths(rt: Runtime, paths: Iterable[str | os.PathLike[str]], banks: list[str] | None = None,
               threshold: int | None = None, faces: bool = False, assess: bool = False) -> Iterator[dict[str, Any]]:
    """:func:`scan_refs` over files, folders and archives (walked and opened within the limits)."""
    return scan_refs(rt, iter_media(paths, rt.limits()), banks, threshold, faces, assess)


def _content_ids(s: Session, entry_ids: list[int]) -> dict[int, int]:
    """HMA content id of each entry: one id per media file, its first entry's (the entry's own id
    when it came from a hash, not a file)."""
    out: dict[int, int] = {}
    for entry_id, bank_id, ref in s.execute(select(BankEntry.id, BankEntry.bank_id, BankEntry.content_ref)
                                            .where(BankEntry.id.in_(entry_ids))):
        out[entry_id] = entry_id if ref is None else int(s.scalar(select(func.min(BankEntry.id)).where(
            BankEntry.bank_id == bank_id, BankEntry.content_ref == ref)) or entry_id)
    return out


def content_ids(rt: Runtime, entry_ids: list[int]) -> dict[int, int]:
    """:func:`_content_ids` in a transaction of its own (for a door's scan rows)."""
    with rt.db.session() as s:
        return _content_ids(s, entry_ids)


def bank_matches(ratio: float, draw: float | None) -> bool:
    """Whether a bank with HMA ``matching_enabled_ratio`` takes part in a match. ``draw`` is an HMA
    lookup's coin flip in [0, 1) (HMA: the bank matches when ratio >= draw; 0 = bypass); None for
    Haechi's own scans, where any ratio above 0 is on and 0 is off."""
    return ratio > 0 if draw is None else ratio >= draw


def matching_banks(rt: Runtime, draw: float | None) -> list[str]:
    """Names of the banks that take part in a match under ``draw`` (see :func:`bank_matches`)."""
    with rt.db.session() as s:
        return [name for name, ratio in s.execute(select(Bank.name, Bank.matching_enabled_ratio))
                if bank_matches(ratio, draw)]


def lookup(rt: Runtime, signal_type: str, signal: str, banks: list[str] | None = None,
           draw: float | None = None, include_disabled: bool = False) -> list[dict[str, Any]]:
    """Bank entries matching one hash: exact for md5/sha256, within ``pdq_threshold`` bits for PDQ
    (frames of banked videos included). Each: bank, entry_id, content_id (HMA: the media file's
    first entry), label, signal_type, distance (bits); best first. Every index hit is checked
    against the entry's current signal first (issue #21).

    Raises InputError (signal type), BadSignal (the hash)."""
    from haechi.signals import SIGNAL_TYPES

    if signal_type not in ("pdq", "md5", "sha256"):
        raise InputError(signal_type, "lookup signal_type must be pdq, md5 or sha256")
    value = SIGNAL_TYPES[signal_type].normalize(signal)
    found: list[tuple[int, int]] = []  # entry id, distance
    hits = rt.refresh_index().search(as_codes([value]), rt.settings.pdq_threshold) if signal_type == "pdq" else None
    with rt.db.session() as s:
        if hits is not None:
            verifier = HitVerifier(s)
            verifier.prefetch(hits.label.tolist())
            for i, (label, dist) in enumerate(zip(hits.label.tolist(), hits.distance.tolist(), strict=True)):
                if verifier.ok(label, hits.code_hex(i)):  # the entry holds this hash now
                    found.append((label if label >= 0 else vpdq_signal.split_label(label)[0], dist))
        else:
            found = [(i, 0) for i in s.scalars(select(BankEntry.id).where(
                BankEntry.signal_type == signal_type, BankEntry.signal == value))]
        best: dict[int, int] = {}
        for entry_id, dist in found:
            best[entry_id] = min(dist, best.get(entry_id, 999))
        rows = s.execute(select(BankEntry.id, Bank.name, BankEntry.label, BankEntry.signal_type,
                                BankEntry.content_ref, BankEntry.bank_id, BankEntry.disable_until_ts,
                                Bank.matching_enabled_ratio)
                         .join(Bank, Bank.id == BankEntry.bank_id)
                         .where(BankEntry.id.in_(list(best)))).all() if best else []
        if not include_disabled:  # HMA: a disabled item, or a bank not drawn, does not match
            now = time.time()
            rows = [r for r in rows if item_enabled(r[6], now) and bank_matches(r[7], draw)]
        content = _content_ids(s, [r[0] for r in rows])  # HMA: one id per media file
    out = [{"bank": r[1], "entry_id": r[0], "content_id": content[r[0]], "label": r[2], "signal_type": r[3],
            "distance": best[r[0]], "verdict": "copy"} for r in rows if not banks or r[1] in banks]
    return sorted(out, key=lambda m: (m["distance"], m["entry_id"]))
