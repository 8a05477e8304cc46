"""Scan analysed media against banks: exact hashes, PDQ (+ rotations/mirrors, + border-trimmed),
then local features with geometric verification for what PDQ cannot see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from haechi.index.hamming import HammingIndex, as_codes
from haechi.index.local import LocalIndex, rotation_name
from haechi.services.analyse import MediaRecord
from haechi.signals.pdq import TRANSFORMS
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


class Scanner:
    """Matches records against a fixed set of banks with preloaded indexes."""

    def __init__(self, session: Session, bank_names: dict[int, str], pdq_index: HammingIndex,
                 local_index: LocalIndex | None, threshold: int, quality_floor: int) -> None:
        self.session = session
        self.bank_names = bank_names
        self.pdq_index = pdq_index
        self.local_index = local_index
        self.threshold = threshold
        self.quality_floor = quality_floor
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

    def _pdq(self, variants: tuple[str, ...], method: str) -> list[tuple[EntryInfo, int, str, str]]:
        if not variants or len(self.pdq_index) == 0:
            return []
        hits = self.pdq_index.search(as_codes(list(variants)), self.threshold)
        if hits.label.size == 0:
            return []
        order = np.lexsort((hits.query, hits.distance))
        self._resolve(hits.label.tolist())
        best: dict[int, tuple[EntryInfo, int, str, str]] = {}
        for i in order:
            label = int(hits.label[i])
            info = self._entries.get(label)
            if info is None or label in best:
                continue
            best[label] = (info, int(hits.distance[i]), TRANSFORMS[int(hits.query[i])], method)
        return list(best.values())

    def match(self, record: MediaRecord) -> list[dict[str, Any]]:
        if record.error is not None or record.sha256 is None:
            return []
        found = self._exact(record)
        if record.pdq is not None and (record.pdq_quality or 0) >= self.quality_floor:
            found += self._pdq(record.variants or (record.pdq,), "pdq")
        if record.trimmed_variants and (record.trimmed_quality or 0) >= self.quality_floor:
            found += self._pdq(record.trimmed_variants, "pdq_trimmed")
        extra: dict[int, dict[str, Any]] = {}
        if self.local_index is not None and record.local is not None and len(record.local):
            seen_content = {info.content_ref for info, *_ in found if info.content_ref}
            seen_ids = {info.id for info, *_ in found}
            for hit in self.local_index.search(record.local):
                self._resolve([hit.label])
                info = self._entries.get(hit.label)
                if info is None or info.id in seen_ids or (info.content_ref in seen_content):
                    continue
                found.append((info, hit.distance, rotation_name(hit.rotation_deg), "local"))
                extra[info.id] = {"inliers": hit.inliers, "scale": round(hit.scale, 3),
                                  "rotation_deg": round(hit.rotation_deg, 1)}
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
