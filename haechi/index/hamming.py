"""Exact Hamming range search over 256-bit codes by multi-index hashing (MIH).

Why our own and not ``faiss.IndexBinaryMultiHash``: faiss keeps one ``unordered_map`` of int64
id vectors per table (~1.3 GB of ids at 10M codes with 16 tables), which does not fit the
< 1 GiB goal. Here each table is a CSR layout (65,537 offsets + uint32 ids), and table 0 is
implicit because the codes themselves are stored sorted by their first chunk: 10M codes cost
320 MB of codes + 600 MB of ids + 40 MB of labels.

Exactness: the 256 bits are cut into chunks; chunk i is probed with every key within f_i bit
flips of the query's chunk. If every chunk differed in more than f_i bits the distance would be
at least sum(f_i + 1), so choosing sum(f_i + 1) > r finds every neighbour within radius r; all
candidates are then verified with the full 256-bit distance. Two layouts:
- up to 4M codes, 16 chunks of 16 bits: at r=31 one flip each (17 probes per chunk);
- from 4M codes, 12 chunks of 20 bits + one of 16: buckets are 16x smaller, so ~2.6x fewer
  candidates at 10M for ~5x more (cheap, prefetched) probes; flips are spread so that
  sum(f_i + 1) = r + 1 at the fewest probes.
``bench/bench_match.py`` checks recall against brute force (faiss flat). The probe/verify loop
is compiled (``_mih_kernel``, numba); building and persistence stay numpy.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

CODE_BYTES = 32
#: chunk widths (bits) of the two layouts; they always add up to 256
LAYOUT_16 = (16,) * 16
LAYOUT_20 = (20,) * 12 + (16,)
#: from this many codes on, the 20-bit layout is built
WIDE_AFTER = 4_000_000
#: pending (not yet compacted) codes are searched by brute force; compact beyond this many
PENDING_LIMIT = 50_000


@dataclass(frozen=True)
class RangeHits:
    """Flat result arrays: for each hit, which query row, which label, at what distance."""

    query: np.ndarray  # int64
    label: np.ndarray  # int64
    distance: np.ndarray  # int32
    #: (n, 32) uint8: the indexed code each hit was found at, so a caller can check the hit
    #: against the labelled entry's current signal before reporting it (see services.matching)
    code: np.ndarray = field(default_factory=lambda: np.zeros((0, CODE_BYTES), np.uint8))

    def code_hex(self, i: int) -> str:
        """The i-th hit's indexed code as lower-case hex (as PDQ signals are stored)."""
        return bytes(self.code[i]).hex()


def _flip_masks(bits: int, flips: int) -> np.ndarray:
    masks = [0]
    for k in range(1, flips + 1):
        for chosen in itertools.combinations(range(bits), k):
            masks.append(sum(1 << b for b in chosen))
    return np.array(masks, dtype=np.int64)


def _choose_flips(widths: tuple[int, ...], radius: int, n: int) -> list[int]:
    """Flips per chunk with sum(f + 1) >= radius + 1, greedily at the least expected work: each
    probe costs a bucket lookup plus the candidates in it (n / 2^width on random codes)."""
    flips = [0] * len(widths)
    need = radius + 1 - len(widths)
    while need > 0:
        # the chunk whose next flip level adds the least work
        i = min(range(len(widths)),
                key=lambda j: (math.comb(widths[j], flips[j] + 1) * (1.0 + n / (1 << widths[j])), j))
        flips[i] += 1
        need -= 1
    return flips


_Plan = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@functools.lru_cache(maxsize=64)
def _search_plan(widths: tuple[int, ...], radius: int, n: int) -> _Plan:
    """Kernel arguments that depend only on the layout, radius and size: chunk widths, first
    bits, table bases, all flip masks, mask starts, flips. Cached: a scan searches the same
    index at the same radius thousands of times (the 20-bit layout has ~1,400 masks)."""
    flips = _choose_flips(widths, radius, n)
    masks = [_flip_masks(w, f) for w, f in zip(widths, flips, strict=True)]
    mask_start = np.concatenate([[0], np.cumsum([len(m) for m in masks])]).astype(np.int64)
    table_base = np.concatenate([[0], np.cumsum([(1 << w) + 1 for w in widths])]).astype(np.int64)
    bit_start = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    plan: _Plan = (np.array(widths, np.int64), bit_start, table_base, np.concatenate(masks), mask_start,
            np.array(flips, np.int64))
    for arr in plan:
        arr.flags.writeable = False  # shared between calls
    return plan


def chunk_keys(words: np.ndarray, offset: int, bits: int) -> np.ndarray:
    """The ``bits``-bit chunk at bit ``offset`` of each code (codes as (n, 4) uint64 words)."""
    w, s = divmod(offset, 64)
    val = words[:, w] >> np.uint64(s)
    if s + bits > 64:
        val |= words[:, w + 1] << np.uint64(64 - s)
    return (val & np.uint64((1 << bits) - 1)).astype(np.int64)


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
        self._layout = np.array(LAYOUT_16, np.int64)
        self._offsets = np.zeros(0, np.int64)  # all tables' CSR offsets, concatenated
        self._ids = np.zeros((len(LAYOUT_16) - 1, 0), np.uint32)
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
        widths = LAYOUT_20 if n >= WIDE_AFTER else LAYOUT_16
        starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
        order = np.argsort(chunk_keys(codes.view(np.uint64), 0, widths[0]), kind="stable")
        codes = np.ascontiguousarray(codes[order])
        labels = np.ascontiguousarray(labels[order])
        words = codes.view(np.uint64)
        offsets = np.zeros(sum((1 << w) + 1 for w in widths), np.int64)
        ids = np.empty((len(widths) - 1, n), np.uint32)
        base = 0
        for t, (w, start) in enumerate(zip(widths, starts, strict=True)):
            keys = chunk_keys(words, int(start), w)
            counts = np.bincount(keys, minlength=1 << w)
            np.cumsum(counts, out=offsets[base + 1 : base + (1 << w) + 1])
            if t > 0:
                ids[t - 1] = np.argsort(keys, kind="stable").astype(np.uint32)
            base += (1 << w) + 1
        self._codes, self._labels, self._offsets, self._ids = codes, labels, offsets, ids
        self._layout = np.array(widths, np.int64)

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

    @property
    def layout(self) -> tuple[int, ...]:
        return tuple(int(w) for w in self._layout)

    # -- searching --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, radius: int) -> RangeHits:
        """Every (query row, label) pair within ``radius`` bits, each pair once at its distance."""
        q = as_codes(queries)
        parts = [self._search_mih(q, radius), *self._search_pending(q, radius)]
        query = np.concatenate([p.query for p in parts])
        label = np.concatenate([p.label for p in parts])
        distance = np.concatenate([p.distance for p in parts])
        code = np.concatenate([p.code for p in parts])
        if self._removed and label.size:
            keep = ~np.isin(label, np.fromiter(self._removed, np.int64))
            query, label, distance, code = query[keep], label[keep], distance[keep], code[keep]
        return RangeHits(query=query, label=label, distance=distance, code=code)

    def _search_mih(self, q: np.ndarray, radius: int) -> RangeHits:
        n = self._codes.shape[0]
        if n == 0 or q.shape[0] == 0:
            return RangeHits(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))
        from haechi.index._mih_kernel import mih_search  # numba: loaded on first search, not at start-up

        q = np.ascontiguousarray(q)
        qrow, cand, dist = mih_search(
            self._codes.view(np.uint64), self._offsets, self._ids, q.view(np.uint64),
            *_search_plan(self.layout, int(radius), n), int(radius),
        )
        return RangeHits(query=qrow, label=self._labels[cand], distance=dist, code=self._codes[cand])

    def _search_pending(self, q: np.ndarray, radius: int) -> list[RangeHits]:
        out = []
        for codes, labels in zip(self._pending_codes, self._pending_labels, strict=True):
            d = np.bitwise_count(q.view(np.uint64)[:, None, :] ^ codes.view(np.uint64)[None, :, :])
            dist = d.sum(axis=2, dtype=np.int32)
            qi, ci = np.nonzero(dist <= radius)
            out.append(RangeHits(qi.astype(np.int64), labels[ci], dist[qi, ci], codes[ci]))
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: Path, meta: dict[str, object] | None = None) -> None:
        """Write the compacted index as .npy files, with ``meta`` (what the index covers) as
        meta.json beside them, into a temp dir that is then renamed into place: a process killed
        at any point leaves either the old index, the new one, or none (rebuilt from the
        database) — never data and meta from different saves. Leftovers of a killed save are
        removed first."""
        import json
        import shutil

        if self._pending_codes or self._removed:
            self.compact()
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        old = directory.with_name(directory.name + ".old")
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        tmp.mkdir(parents=True)
        for name in ("codes", "labels", "offsets", "ids", "layout"):
            np.save(tmp / f"{name}.npy", getattr(self, f"_{name}"))
        if meta is not None:
            (tmp / "meta.json").write_text(json.dumps(meta))
        if directory.exists():
            directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old)
        else:
            tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> HammingIndex:
        index = cls()
        mode: Literal["r"] | None = "r" if mmap else None
        for name in ("codes", "labels", "offsets", "ids", "layout"):
            setattr(index, f"_{name}", np.load(Path(directory) / f"{name}.npy", mmap_mode=mode))
        if int(index._layout.sum()) != CODE_BYTES * 8:
            raise ValueError(f"{directory}: bad index layout")
        return index
