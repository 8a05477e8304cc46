"""Matchers that scans use: exact hashes (database), PDQ (persisted MIH index), local features.

The PDQ index is persisted under ``<home>/index/pdq`` with the highest entry id it covers; on
load, entries added since are fetched and searched at once, so a new bank entry is matchable
by the next scan without a rebuild. Deleted entries are dropped when hits are resolved against
the database, and the index is rebuilt when too many have gone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from haechi.index.hamming import PENDING_LIMIT, HammingIndex, as_codes
from haechi.index.local import LocalIndex
from haechi.signals.local import LocalFeatures
from haechi.store.crypto import Cipher
from haechi.store.models import BankEntry, LocalFeatureSet


def _pdq_filter(quality_floor: int) -> object:
    return (BankEntry.signal_type == "pdq") & or_(
        BankEntry.quality.is_(None), BankEntry.quality >= quality_floor)


def _fetch_codes(session: Session, quality_floor: int, after_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids: list[int] = []
    hexes: list[str] = []
    stmt = (select(BankEntry.id, BankEntry.signal)
            .where(_pdq_filter(quality_floor), BankEntry.id > after_id)  # type: ignore[arg-type]
            .order_by(BankEntry.id)
            .execution_options(yield_per=100_000))
    for entry_id, signal in session.execute(stmt):
        ids.append(entry_id)
        hexes.append(signal)
    return as_codes(hexes), np.array(ids, dtype=np.int64)


def load_pdq_index(session: Session, index_dir: Path, quality_floor: int) -> HammingIndex:
    """Load the persisted PDQ index, bring it up to date with the database, save if rebuilt."""
    meta_path = index_dir / "pdq.json"
    data_dir = index_dir / "pdq"
    total = int(session.scalar(select(func.count()).select_from(BankEntry)
                               .where(_pdq_filter(quality_floor))) or 0)  # type: ignore[arg-type]
    if meta_path.exists() and data_dir.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("quality_floor") == quality_floor:
                index = HammingIndex.load(data_dir)
                last_id = int(meta["last_id"])
                codes, ids = _fetch_codes(session, quality_floor, after_id=last_id)
                covered = total - len(ids)
                # rebuild when >10% of the indexed entries were deleted or the delta is large
                if covered >= 0.9 * int(meta["count"]) and len(ids) <= PENDING_LIMIT:
                    index.add(codes, ids)
                    return index
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: rebuild from the database, which is the source of truth
    codes, ids = _fetch_codes(session, quality_floor)
    index = HammingIndex.build(codes, ids)
    index_dir.mkdir(parents=True, exist_ok=True)
    index.save(data_dir)
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"last_id": int(ids.max()) if len(ids) else 0, "count": len(ids),
                               "quality_floor": quality_floor}))
    tmp.replace(meta_path)
    return index


def load_local_index(session: Session, bank_ids: list[int], cipher: Cipher) -> LocalIndex:
    index = LocalIndex()
    stmt = select(LocalFeatureSet.entry_id, LocalFeatureSet.ciphertext).where(
        LocalFeatureSet.bank_id.in_(bank_ids)).order_by(LocalFeatureSet.entry_id)
    for entry_id, token in session.execute(stmt):
        index.add(int(entry_id), LocalFeatures.from_bytes(cipher.decrypt(token)))
    return index
