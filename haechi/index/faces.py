"""Gallery of enrolled face embeddings: nearest-neighbour search by cosine similarity (faiss).

Exact (``IndexFlatIP``) up to ``HNSW_AFTER`` embeddings; above, an HNSW graph (``IndexHNSWFlat``,
inner product). Measured in ``bench/bench_faces.py`` at 1M: exact search takes 2.9 ms/query,
while HNSW took 11 minutes to build, was only 3x faster and found the true nearest neighbour
for 93% of queries — so exact search is used far beyond any real gallery of consenting people.
Held in memory only: the embeddings come decrypted from the database when a scan starts and are
never written to disk in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from haechi._lazy import faiss, single_threaded_here  # imported on first use, single-threaded (see haechi._lazy)

DIM = 128
HNSW_AFTER = 5_000_000


@dataclass(frozen=True)
class FaceHit:
    label: int
    similarity: float


class FaceIndex:
    def __init__(self, vectors: np.ndarray, labels: np.ndarray, *, exact: bool | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.labels) != len(vectors):
            raise ValueError("vectors and labels differ in length")
        use_exact = exact if exact is not None else len(vectors) <= HNSW_AFTER
        if use_exact:
            self._index: faiss.Index = faiss.IndexFlatIP(DIM)
        else:
            hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 80
            hnsw.hnsw.efSearch = 128
            self._index = hnsw
        if len(vectors):
            self._index.add(vectors)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int = 1) -> list[list[FaceHit]]:
        """The ``k`` most similar gallery embeddings for each query row."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, DIM)
        if len(self) == 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        single_threaded_here()
        sims, idx = self._index.search(q, min(k, len(self)))
        return [[FaceHit(int(self.labels[i]), float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
                for row_s, row_i in zip(sims, idx, strict=True)]
