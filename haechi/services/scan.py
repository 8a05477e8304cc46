"""Scan analysed media against banks: exact hashes, PDQ (+ rotations/mirrors, + border-trimmed),
then local features with geometric verification for what PDQ cannot see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from haechi.index.hamming import HammingIndex, as_codes
from haechi.index.local import LocalHit, LocalIndex, rotation_name
from haechi.services.analyse import AnalyseOptions, MediaRecord, analyse
from haechi.signals.local import QUERY_FEATURES, orb_features
from haechi.signals.pdq import MIRRORED_TRANSFORMS, TRANSFORMS, compose
from haechi.sources import MediaRef
from haechi.store.models import BankEntry

#: order of methods in a match list when distances tie: exact before perceptual before local
_METHOD_RANK = {"exact": 0, "pdq": 1, "pdq_trimmed": 2, "local": 3}


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

    pdq: list[tuple[int, int, str, str]] = field(default_factory=list)  # label, distance, transform, method
    local: list[tuple[LocalHit, str]] = field(default_factory=list)  # hit, transform


@dataclass(frozen=True)
class SearchContext:
    """Read-only indexes a scan searches. Set before the worker pool forks, so workers share
    the memory instead of receiving a copy with every task."""

    opts: AnalyseOptions
    pdq_index: HammingIndex
    local_index: LocalIndex | None
    threshold: int
    quality_floor: int

    def search(self, record: MediaRecord) -> RawHits:
        raw = RawHits()
        if record.error is not None:
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
        if self.local_index is not None and record.local is not None and len(record.local):
            raw.local = [(hit, rotation_name(hit.rotation_deg)) for hit in self.local_index.search(record.local)]
            if not raw.pdq and not raw.local and record.rgb is not None:
                # mirrored copies (often also cropped): ORB is not mirror-invariant, so look
                # again at the mirrored image — only when nothing else matched
                mirrored = orb_features(record.rgb[:, ::-1], len(record.local) or QUERY_FEATURES)
                raw.local = [(hit, compose(rotation_name(hit.rotation_deg), "flip_h"))
                             for hit in self.local_index.search(mirrored)]
        return raw

    def _pdq(self, variants: tuple[str, ...], names: tuple[str, ...], method: str) -> list[tuple[int, int, str, str]]:
        if not variants or len(self.pdq_index) == 0:
            return []
        hits = self.pdq_index.search(as_codes(list(variants)), self.threshold)
        order = np.lexsort((hits.query, hits.distance))
        return [(int(hits.label[i]), int(hits.distance[i]), names[int(hits.query[i])], method) for i in order]


_context: SearchContext | None = None


def set_search_context(context: SearchContext | None) -> None:
    global _context
    _context = context


def analyse_and_search(ref: MediaRef) -> tuple[MediaRecord, RawHits]:
    """Worker task: analyse one media reference and search the shared indexes."""
    assert _context is not None, "set_search_context() before scanning"
    record = analyse(ref, _context.opts)
    raw = _context.search(record)
    record.local = record.rgb = None  # pixels and features stay in the worker; hits travel back
    return record, raw


class Scanner:
    """Resolves index hits to bank entries (in the process that holds the database session)."""

    def __init__(self, session: Session, bank_names: dict[int, str]) -> None:
        self.session = session
        self.bank_names = bank_names
        self._entries: dict[int, EntryInfo | None] = {}

    def _resolve(self, ids: list[int]) -> None:
        missing = [i for i in set(ids) if i not in self._entries]
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            rows = self.session.execute(
                select(BankEntry.id, BankEntry.bank_id, BankEntry.label, BankEntry.signal_type,
                       BankEntry.content_ref).where(BankEntry.id.in_(chunk))).all()
            found = {r[0]: r for r in rows}
            for entry_id in chunk:
                row = found.get(entry_id)
                if row is None or row[1] not in self.bank_names:
                    self._entries[entry_id] = None  # deleted, or in a bank not scanned
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
        if record.error is not None or record.sha256 is None:
            return []
        found = self._exact(record)
        self._resolve([h[0] for h in raw.pdq])
        for label, distance, transform, method in raw.pdq:
            info = self._entries.get(label)
            if info is not None:
                found.append((info, distance, transform, method))
        extra: dict[int, dict[str, Any]] = {}
        if raw.local:
            seen_content = {info.content_ref for info, *_ in found if info.content_ref}
            seen_ids = {info.id for info, *_ in found}
            for hit, transform in raw.local:
                self._resolve([hit.label])
                info = self._entries.get(hit.label)
                if info is None or info.id in seen_ids or (info.content_ref in seen_content):
                    continue
                found.append((info, hit.distance, transform, "local"))
                extra[info.id] = {"inliers": hit.inliers, "scale": round(hit.scale, 3),
                                  "rotation_deg": round(hit.rotation_deg, 1),
                                  "coverage": round(hit.coverage, 3)}
        matches: dict[int, dict[str, Any]] = {}
        for info, distance, transform, method in sorted(
                found, key=lambda f: (_METHOD_RANK[f[3]], f[1])):
            if info.id in matches:
                continue
            signal_type = "orb" if method == "local" else info.signal_type
            m: dict[str, Any] = {"bank": info.bank, "entry_id": info.id, "label": info.label,
                                 "signal_type": signal_type, "distance": distance,
                                 "transform": transform, "method": method}
            m.update(extra.get(info.id, {}))
            matches[info.id] = m
        return sorted(matches.values(), key=lambda m: (_METHOD_RANK[m["method"]], m["distance"]))
