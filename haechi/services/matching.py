"""Matchers that scans use: exact hashes (database), PDQ (persisted MIH index), local features.

The PDQ index is persisted under ``<home>/index/pdq`` with the highest entry id it covers; on
load, entries added since are fetched and searched at once, so a new bank entry is matchable
by the next scan without a rebuild. Deleted entries are logged by a database trigger
(``index_removals``, in deletion order) and dropped from every index that holds them, at load and
at each refresh; the index is rebuilt when too many have gone.

Belt and braces (issue #21: a stale slot of a deleted bank once matched an unrelated entry at
distance 0): entry ids are never reused, and every hit is checked by :class:`HitVerifier` — the
code the index found must be the labelled entry's *current* signal (or one of its video's frame
hashes) — before it is reported.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from haechi.errors import ConfigError
from haechi.index.hamming import PENDING_LIMIT, HammingIndex, as_codes
from haechi.index.local import LocalIndex
from haechi.signals import template
from haechi.signals import vpdq as vpdq_signal
from haechi.signals.local import LocalFeatures
from haechi.store.crypto import Cipher
from haechi.store.models import BankEntry, IndexRemoval, LocalFeatureSet, VideoHash

log = logging.getLogger(__name__)

#: bump when what the index holds changes (2: banked video frames; 3: chunk layouts; 4: removals
#: applied from the removal log — indexes saved before ids were never reused are rebuilt)
INDEX_VERSION = 4
#: frame labels of one banked video that an index may hold (Settings.video_max_frames default)
DEFAULT_MAX_FRAMES = 3600


def latest_removal(session: Session) -> int:
    """Sequence number of the newest logged bank-entry deletion (0: none)."""
    return int(session.scalar(select(func.max(IndexRemoval.id))) or 0)


def removed_labels(session: Session, after: int, max_frames: int = DEFAULT_MAX_FRAMES) -> tuple[list[int], int]:
    """Index labels of every bank entry deleted after removal ``after`` (a video's entry: all its
    possible frame labels), and the newest removal seen."""
    labels: list[int] = []
    newest = after
    for seq, entry_id, signal_type in session.execute(
            select(IndexRemoval.id, IndexRemoval.entry_id, IndexRemoval.signal_type)
            .where(IndexRemoval.id > after).order_by(IndexRemoval.id)):
        newest = seq
        if signal_type == "vpdq":
            labels += [vpdq_signal.frame_label(entry_id, f) for f in range(max_frames)]
        else:
            labels.append(entry_id)
    return labels, newest


class HitVerifier:
    """Checks index hits against what the database holds now: a hit is reported only when the
    code the index found is the labelled entry's current PDQ (image entries) or one of its
    video's frame or middle-band hashes (frame labels). Entries are fetched in chunks and kept
    for the verifier's life (one scan or lookup)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._pdq: dict[int, str | None] = {}
        self._frames: dict[int, dict[int, set[str]]] = {}

    def prefetch(self, labels: list[int]) -> None:
        images = [x for x in set(labels) if x >= 0 and x not in self._pdq]
        videos = list({vpdq_signal.split_label(x)[0] for x in labels if x < 0} - set(self._frames))
        for i in range(0, len(images), 500):
            chunk = images[i : i + 500]
            found = dict(self.session.execute(select(BankEntry.id, BankEntry.signal).where(
                BankEntry.id.in_(chunk), BankEntry.signal_type == "pdq")).all())
            for entry_id in chunk:
                self._pdq[entry_id] = found.get(entry_id)
        for i in range(0, len(videos), 100):
            chunk = videos[i : i + 100]
            rows = self.session.execute(select(VideoHash.entry_id, VideoHash.data, VideoHash.bands)
                                        .join(BankEntry, BankEntry.id == VideoHash.entry_id)
                                        .where(VideoHash.entry_id.in_(chunk), BankEntry.signal_type == "vpdq"))
            for entry_id in chunk:
                self._frames[entry_id] = {}
            for entry_id, blob, bands in rows:
                frames: dict[int, set[str]] = {}
                for f in vpdq_signal.unpack(blob):
                    frames.setdefault(f.number, set()).add(f.pdq)
                for number, (band, _quality) in enumerate(vpdq_signal.unpack_bands(bands)):
                    frames.setdefault(number, set()).add(band)
                self._frames[entry_id] = frames

    def ok(self, label: int, code_hex: str) -> bool:
        """Whether a hit on ``label`` at indexed code ``code_hex`` is still true."""
        self.prefetch([label])
        if label >= 0:
            return self._pdq.get(label) == code_hex
        entry_id, number = vpdq_signal.split_label(label)
        return code_hex in self._frames.get(entry_id, {}).get(number, ())


def _pdq_filter(quality_floor: int) -> object:
    return (BankEntry.signal_type == "pdq") & or_(
        BankEntry.quality.is_(None), BankEntry.quality >= quality_floor)


def _indexed_filter(quality_floor: int) -> object:
    """Entries whose hashes live in the PDQ index: image PDQs and banked videos' frames."""
    return or_(_pdq_filter(quality_floor), BankEntry.signal_type == "vpdq")  # type: ignore[arg-type]


def video_frame_codes(entry_id: int, blob: bytes, quality_floor: int,
                      bands: bytes | None = None) -> tuple[list[str], list[int]]:
    """Index codes and labels of a banked video: good frames (first of each identical hash),
    and the middle-band hash of each frame under the same label."""
    frames = vpdq_signal.unique_good(vpdq_signal.unpack(blob), quality_floor)
    codes = [f.pdq for f in frames]
    labels = [vpdq_signal.frame_label(entry_id, f.number) for f in frames]
    band_list = vpdq_signal.unpack_bands(bands)
    for f in frames:
        if f.number < len(band_list) and band_list[f.number][1] >= quality_floor:
            codes.append(band_list[f.number][0])
            labels.append(vpdq_signal.frame_label(entry_id, f.number))
    return codes, labels


def fetch_codes(session: Session, quality_floor: int, after_id: int = 0, upto_id: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes and labels of every indexed entry with ``after_id`` < id <= ``upto_id`` (no upper
    bound when None); also how many entries. A caller that records "indexed up to N" passes N as
    ``upto_id``: an entry committed between reading N and this query would otherwise be indexed
    now and again by the next refresh."""
    labels: list[int] = []
    hexes: list[str] = []
    entries = 0
    stmt = (select(BankEntry.id, BankEntry.signal_type, BankEntry.signal, VideoHash.data, VideoHash.bands)
            .outerjoin(VideoHash, VideoHash.entry_id == BankEntry.id)
            .where(_indexed_filter(quality_floor), BankEntry.id > after_id)  # type: ignore[arg-type]
            .where(BankEntry.id <= (upto_id if upto_id is not None else 2**62))
            .order_by(BankEntry.id)
            .execution_options(yield_per=20_000))
    for entry_id, signal_type, signal, blob, bands in session.execute(stmt):
        entries += 1
        if signal_type == "vpdq":
            if blob is not None:
                codes, frame_labels = video_frame_codes(entry_id, blob, quality_floor, bands)
                hexes += codes
                labels += frame_labels
        else:
            labels.append(entry_id)
            hexes.append(signal)
    return as_codes(hexes), np.array(labels, dtype=np.int64), entries


def load_pdq_index(session: Session, index_dir: Path, quality_floor: int,
                   max_frames: int = DEFAULT_MAX_FRAMES, upto_id: int | None = None) -> HammingIndex:
    """Load the persisted PDQ index, bring it up to date with the database (entries added and
    removed since it was saved; none above ``upto_id``, which the caller's refreshes start
    from), save if rebuilt."""
    data_dir = index_dir / "pdq"
    meta_path = data_dir / "meta.json"  # saved with the data, in one rename (HammingIndex.save)
    total = int(session.scalar(select(func.count()).select_from(BankEntry)
                               .where(_indexed_filter(quality_floor))) or 0)  # type: ignore[arg-type]
    if meta_path.exists() and data_dir.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("quality_floor") == quality_floor and meta.get("version") == INDEX_VERSION:
                index = HammingIndex.load(data_dir)
                last_id = int(meta["last_id"])
                codes, labels, entries = fetch_codes(session, quality_floor, after_id=last_id, upto_id=upto_id)
                covered = total - entries
                # rebuild when >10% of the indexed entries were deleted or the delta is large
                if covered >= 0.9 * int(meta["entries"]) and len(labels) <= PENDING_LIMIT:
                    index.add(codes, labels)
                    gone, _ = removed_labels(session, int(meta["last_removal"]), max_frames)
                    index.remove(gone)
                    return index
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: rebuild from the database, which is the source of truth
    last_id = int(session.scalar(select(func.max(BankEntry.id))) or 0) if upto_id is None else upto_id
    last_removal = latest_removal(session)
    codes, labels, entries = fetch_codes(session, quality_floor, upto_id=last_id)
    index = HammingIndex.build(codes, labels)
    index_dir.mkdir(parents=True, exist_ok=True)
    index.save(data_dir, {"last_id": last_id, "last_removal": last_removal, "entries": entries,
                          "quality_floor": quality_floor, "version": INDEX_VERSION})
    (index_dir / "pdq.json").unlink(missing_ok=True)  # where meta lived before it moved into pdq/
    return index


def load_local_index(session: Session, bank_ids: list[int], cipher: Cipher) -> LocalIndex:
    index = LocalIndex()
    stmt = select(LocalFeatureSet.entry_id, LocalFeatureSet.ciphertext).where(
        LocalFeatureSet.bank_id.in_(bank_ids)).order_by(LocalFeatureSet.entry_id)
    unreadable = 0
    for entry_id, token in session.execute(stmt):
        try:
            blob = cipher.decrypt(token)
            index.add(int(entry_id), LocalFeatures.from_bytes(blob), template.unpack_after_features(blob))
        except ConfigError:  # one undecryptable row never stops exact and PDQ matching of the rest
            unreadable += 1
    if unreadable:
        log.warning("local features of %d bank entries cannot be decrypted with this key "
                    "(haechi doctor); they are skipped", unreadable)
    return index
