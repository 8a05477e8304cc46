"""PDQ matching at scale: Haechi's MIH index against faiss flat brute force, same run.

    python bench/bench_match.py --sizes 1000000 [10000000] [--queries 1000]

Database: random 256-bit codes plus, for every query, one planted near-duplicate at distance
1..31. Each query is 8 codes (the 8 dihedral variants a scan searches). Reported: build, save
and load time, ms per query (8 variants), recall against brute force (must be 100%), and the
resident memory of a fresh process that loads the index and answers the queries.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from haechi.index.hamming import HammingIndex

RADIUS = 31


def _rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_data(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    q = rng.integers(0, 256, (queries * 8, 32), dtype=np.uint8)
    targets = rng.choice(n, queries, replace=False)
    bits = np.unpackbits(codes[targets], axis=1)
    for i in range(queries):
        flip = rng.choice(256, int(rng.integers(1, RADIUS + 1)), replace=False)
        bits[i, flip] ^= 1
    variant = rng.integers(0, 8, queries)  # which of the 8 variants is the planted one
    q[np.arange(queries) * 8 + variant] = np.packbits(bits, axis=1)
    return codes, q


def child(index_dir: str, queries_file: str, out_file: str) -> None:
    """Fresh process: load, query, report memory — so RSS is the index's and nothing else's."""
    base = _rss_mib()
    t0 = time.perf_counter()
    index = HammingIndex.load(Path(index_dir))
    load_s = time.perf_counter() - t0
    after_load = _rss_mib()
    q = np.load(queries_file)
    index.search(q[:8], RADIUS)  # load the compiled kernel from numba's cache before timing
    t0 = time.perf_counter()
    pairs = []
    for i in range(0, len(q), 8):
        hits = index.search(q[i : i + 8], RADIUS)
        pairs.extend(zip((hits.query + i).tolist(), hits.label.tolist(), strict=True))
    query_s = time.perf_counter() - t0
    Path(out_file).write_text(json.dumps({
        "load_s": load_s, "query_ms": 1000 * query_s / (len(q) // 8), "rss_mib": _rss_mib(),
        "rss_index_mib": after_load - base, "hwm_mib": _rss_mib("VmHWM"), "nbytes": index.nbytes,
        "pairs": pairs}))


def run_size(n: int, queries: int, console: Console) -> list[str]:
    t0 = time.perf_counter()
    codes, q = make_data(n, queries)
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        index = HammingIndex.build(codes, np.arange(n, dtype=np.int64))
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index.save(Path(tmp) / "idx")
        save_s = time.perf_counter() - t0
        del index
        np.save(Path(tmp) / "q.npy", q)
        subprocess.run([sys.executable, __file__, "--child", str(Path(tmp) / "idx"), str(Path(tmp) / "q.npy"),
                        str(Path(tmp) / "out.json")], check=True)
        res = json.loads((Path(tmp) / "out.json").read_text())
    # baseline: exact brute force with faiss (flat binary index, all cores)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    t0 = time.perf_counter()
    lims, _, labels = flat.range_search(q, RADIUS + 1)  # faiss range is strict (<)
    brute_s = time.perf_counter() - t0
    truth = {(i, int(labels[j])) for i in range(len(q)) for j in range(lims[i], lims[i + 1])}
    got = {tuple(p) for p in res["pairs"]}
    recall = len(truth & got) / max(1, len(truth))
    brute_ms = 1000 * brute_s / queries
    console.print(f"  n={n:,}: generated in {gen_s:.1f}s; {len(truth)} true pairs; extra pairs: {len(got - truth)}")
    return [f"{n:,}", f"{build_s:.1f}", f"{save_s:.2f}", f"{res['load_s']:.2f}", f"{res['query_ms']:.2f}",
            f"{brute_ms:.1f}", f"{brute_ms / res['query_ms']:.0f}x", f"{recall:.2%}",
            f"{res['nbytes'] / 2**20:.0f}", f"{res['rss_mib']:.0f}"]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    console = Console()
    table = Table("hashes", "build s", "save s", "load s", "MIH ms/query", "brute ms/query", "speed-up",
                  "recall", "index MiB", "process RSS MiB",
                  title=f"PDQ range search, radius {RADIUS}, {args.queries} queries x 8 dihedral variants "
                        f"(faiss {faiss.__version__} flat = brute force, {faiss.omp_get_max_threads()} threads)")
    for n in args.sizes:
        table.add_row(*run_size(n, args.queries, console))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
