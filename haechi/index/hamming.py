"""Exact Hamming range search over 256-bit codes by multi-index hashing (MIH).

Why our own and not ``faiss.IndexBinaryMultiHash``: faiss keeps one ``unordered_map`` of int64
id vectors per table (~1.3 GB of ids at 10M codes with 16 tables), which does not fit the
< 1 GiB goal. Here each table is a CSR layout (65,537 offsets + uint32 ids), and table 0 is
implicit because the codes themselves are stored sorted by their first chunk: 10M codes cost
320 MB of codes + 600 MB of ids + 40 MB of labels.

Exactness: the 256 bits are cut into m=16 chunks of 16 bits. If two codes are within radius r,
by pigeonhole some chunk differs in at most floor(r / m) bits, so probing every key within
floor(r / m) flips of each query chunk finds every true neighbour; all candidates are then
verified with the full 256-bit distance. At r=31 that is one flip: 17 probes per chunk.
``bench/bench_match.py`` checks recall against brute force (faiss flat). The probe/verify loop
is compiled (``_mih_kernel``, numba); building and persistence stay numpy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

CODE_BYTES = 32
CHUNKS = 16
CHUNK_BITS = 16
_KEYS = 1 << CHUNK_BITS
#: pending (not yet compacted) codes are searched by brute force; compact beyond this many
PENDING_LIMIT = 50_000


@dataclass(frozen=True)
class RangeHits:
    """Flat result arrays: for each hit, which query row, which label, at what distance."""

    query: np.ndarray  # int64
    label: np.ndarray  # int64
    distance: np.ndarray  # int32


def _flip_masks(flips: int) -> np.ndarray:
    masks = [0]
    for k in range(1, flips + 1):
        for bits in itertools.combinations(range(CHUNK_BITS), k):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.int64)


def as_codes(hexes: list[str] | np.ndarray) -> np.ndarray:
    """Hex strings (or an existing uint8 array) to a (n, 32) uint8 code matrix."""
    if isinstance(hexes, np.ndarray):
        return np.ascontiguousarray(hexes, dtype=np.uint8).reshape(-1, CODE_BYTES)
    if not hexes:
        return np.zeros((0, CODE_BYTES), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, CODE_BYTES)


class HammingIndex:
    """Exact range search over 256-bit binary codes, labelled with int64 ids."""

    def __init__(self) -> None:
        self._codes = np.zeros((0, CODE_BYTES), np.uint8)
        self._labels = np.zeros(0, np.int64)
        self._offsets = np.zeros((CHUNKS, _KEYS + 1), np.int64)
        self._ids = np.zeros((CHUNKS - 1, 0), np.uint32)
        self._pending_codes: list[np.ndarray] = []
        self._pending_labels: list[np.ndarray] = []
        self._removed: set[int] = set()

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, codes: np.ndarray, labels: np.ndarray) -> HammingIndex:
        index = cls()
        index._build(as_codes(codes), np.asarray(labels, dtype=np.int64))
        return index

    def _build(self, codes: np.ndarray, labels: np.ndarray) -> None:
        if codes.shape[0] != labels.shape[0]:
            raise ValueError("codes and labels differ in length")
        n = codes.shape[0]
        chunks = codes.view(np.uint16)  # (n, 16)
        order = np.argsort(chunks[:, 0], kind="stable")
        codes = np.ascontiguousarray(codes[order])
        labels = np.ascontiguousarray(labels[order])
        chunks = codes.view(np.uint16)
        offsets = np.zeros((CHUNKS, _KEYS + 1), np.int64)
        ids = np.empty((CHUNKS - 1, n), np.uint32)
        for t in range(CHUNKS):
            counts = np.bincount(chunks[:, t], minlength=_KEYS)
            np.cumsum(counts, out=offsets[t, 1:])
            if t > 0:
                ids[t - 1] = np.argsort(chunks[:, t], kind="stable").astype(np.uint32)
        self._codes, self._labels, self._offsets, self._ids = codes, labels, offsets, ids

    def add(self, codes: np.ndarray, labels: np.ndarray | list[int]) -> None:
        """Add codes; they are searchable at once (brute force) and compacted in bulk later."""
        codes = as_codes(codes)
        if codes.shape[0] == 0:
            return
        self._pending_codes.append(codes.copy())
        self._pending_labels.append(np.asarray(labels, dtype=np.int64).copy())
        if sum(c.shape[0] for c in self._pending_codes) > PENDING_LIMIT:
            self.compact()

    def remove(self, labels: list[int]) -> None:
        self._removed.update(int(x) for x in labels)

    def compact(self) -> None:
        """Fold pending codes (and removals) into the MIH tables."""
        codes = np.concatenate([self._codes, *self._pending_codes])
        labels = np.concatenate([self._labels, *self._pending_labels])
        if self._removed:
            keep = ~np.isin(labels, np.fromiter(self._removed, np.int64))
            codes, labels = codes[keep], labels[keep]
        self._pending_codes, self._pending_labels, self._removed = [], [], set()
        self._build(codes, labels)

    def __len__(self) -> int:
        return int(self._codes.shape[0] + sum(c.shape[0] for c in self._pending_codes))

    @property
    def nbytes(self) -> int:
        return int(self._codes.nbytes + self._labels.nbytes + self._offsets.nbytes + self._ids.nbytes)

    # -- searching --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, radius: int) -> RangeHits:
        """Every (query row, label) pair within ``radius`` bits, each pair once at its distance."""
        q = as_codes(queries)
        parts = [self._search_mih(q, radius), *self._search_pending(q, radius)]
        query = np.concatenate([p.query for p in parts])
        label = np.concatenate([p.label for p in parts])
        distance = np.concatenate([p.distance for p in parts])
        if self._removed and label.size:
            keep = ~np.isin(label, np.fromiter(self._removed, np.int64))
            query, label, distance = query[keep], label[keep], distance[keep]
        return RangeHits(query=query, label=label, distance=distance)

    def _search_mih(self, q: np.ndarray, radius: int) -> RangeHits:
        n = self._codes.shape[0]
        if n == 0 or q.shape[0] == 0:
            return RangeHits(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))
        from haechi.index._mih_kernel import mih_search  # numba: loaded on first search, not at start-up

        flips = radius // CHUNKS
        q = np.ascontiguousarray(q)
        qrow, cand, dist = mih_search(
            self._codes.view(np.uint64), self._codes.view(np.uint16), self._offsets, self._ids,
            q.view(np.uint64), q.view(np.uint16), _flip_masks(flips), int(radius), int(flips),
        )
        return RangeHits(query=qrow, label=self._labels[cand], distance=dist)

    def _search_pending(self, q: np.ndarray, radius: int) -> list[RangeHits]:
        out = []
        for codes, labels in zip(self._pending_codes, self._pending_labels, strict=True):
            d = np.bitwise_count(q.view(np.uint64)[:, None, :] ^ codes.view(np.uint64)[None, :, :])
            dist = d.sum(axis=2, dtype=np.int32)
            qi, ci = np.nonzero(dist <= radius)
            out.append(RangeHits(qi.astype(np.int64), labels[ci], dist[qi, ci]))
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the compacted index as .npy files (written to a temp dir, then renamed)."""
        if self._pending_codes or self._removed:
            self.compact()
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for name in ("codes", "labels", "offsets", "ids"):
            np.save(tmp / f"{name}.npy", getattr(self, f"_{name}"))
        if directory.exists():
            old = directory.with_name(directory.name + ".old")
            directory.rename(old)
            tmp.rename(directory)
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        else:
            tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> HammingIndex:
        index = cls()
        mode: Literal["r"] | None = "r" if mmap else None
        for name in ("codes", "labels", "offsets", "ids"):
            setattr(index, f"_{name}", np.load(Path(directory) / f"{name}.npy", mmap_mode=mode))
        return index
