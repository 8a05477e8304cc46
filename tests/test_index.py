"""The MIH Hamming index must be exact: same pairs as brute force at every radius."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from haechi.index.hamming import HammingIndex, as_codes


def _planted(rng: np.random.Generator, base: np.ndarray, distances: list[int]) -> np.ndarray:
    bits = np.unpackbits(base, axis=1)
    for i, d in enumerate(distances):
        flip = rng.choice(256, d, replace=False)
        bits[i, flip] ^= 1
    return np.packbits(bits, axis=1)


def _brute(queries: np.ndarray, codes: np.ndarray, labels: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    d = np.bitwise_count(queries.view(np.uint64)[:, None, :] ^ codes.view(np.uint64)[None]).sum(axis=2)
    qi, ci = np.nonzero(d <= radius)
    return {(int(q), int(labels[c]), int(d[q, c])) for q, c in zip(qi, ci, strict=True)}


@pytest.mark.parametrize("radius", [0, 8, 15, 16, 31, 40])
def test_range_search_equals_brute_force(radius: int) -> None:
    rng = np.random.default_rng(radius)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    # clustered codes too: many share chunks, the hard case for bucket logic
    codes[:2000, :16] = codes[0, :16]
    labels = np.arange(len(codes), dtype=np.int64) * 7 + 3
    index = HammingIndex.build(codes, labels)
    queries = _planted(rng, codes[rng.choice(len(codes), 64)], [int(x) for x in rng.integers(0, 45, 64)])
    hits = index.search(queries, radius)
    got = set(zip(hits.query.tolist(), hits.label.tolist(), hits.distance.tolist(), strict=True))
    assert got == _brute(queries, codes, labels, radius)
    assert len(got) == len({(q, lab) for q, lab, _ in got}), "each pair reported once"


def test_pending_adds_are_searchable_and_removals_hidden(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    index = HammingIndex.build(codes, np.arange(1000))
    new = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    index.add(new, [5000, 5001, 5002])
    hits = index.search(new, 0)
    assert sorted(hits.label.tolist()) == [5000, 5001, 5002]
    index.remove([5001, 10])
    assert 5001 not in index.search(new, 0).label.tolist()
    assert 10 not in index.search(codes[10:11], 0).label.tolist()
    index.save(tmp_path / "idx")
    loaded = HammingIndex.load(tmp_path / "idx")
    assert len(loaded) == 1000 + 3 - 2
    assert sorted(loaded.search(new, 0).label.tolist()) == [5000, 5002]
    assert loaded.search(codes[11:12], 0).label.tolist() == [11]


def test_as_codes_round_trips_hex() -> None:
    hexes = ["00" * 32, "ff" * 32, "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"]
    codes = as_codes(hexes)
    assert [bytes(c).hex() for c in codes] == hexes


@pytest.mark.parametrize("radius", [0, 12, 13, 31, 40])
def test_wide_layout_equals_brute_force(radius: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The 20-bit-chunk layout (used from 4M codes) is exact too; forced here on 20k codes."""
    import haechi.index.hamming as hamming

    monkeypatch.setattr(hamming, "WIDE_AFTER", 1000)
    rng = np.random.default_rng(100 + radius)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    codes[:3000, 10:26] = codes[0, 10:26]  # clustered in the middle chunks (crossing word borders)
    labels = np.arange(len(codes), dtype=np.int64) + 11
    index = HammingIndex.build(codes, labels)
    assert index.layout == hamming.LAYOUT_20
    queries = _planted(rng, codes[rng.choice(len(codes), 48)], [int(x) for x in rng.integers(0, 45, 48)])
    hits = index.search(queries, radius)
    got = set(zip(hits.query.tolist(), hits.label.tolist(), hits.distance.tolist(), strict=True))
    assert got == _brute(queries, codes, labels, radius)
    assert len(got) == len({(q, lab) for q, lab, _ in got})
    index.save(tmp_path / "wide")
    loaded = HammingIndex.load(tmp_path / "wide")
    assert loaded.layout == hamming.LAYOUT_20
    again = loaded.search(queries, radius)
    assert set(zip(again.query.tolist(), again.label.tolist(), again.distance.tolist(), strict=True)) == got
