"""Indexes: exact Hamming range search for PDQ, and local-feature matching with verification."""

from haechi.index.hamming import HammingIndex, RangeHits

__all__ = ["HammingIndex", "RangeHits"]
