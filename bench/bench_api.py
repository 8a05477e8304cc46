"""API load: lookups per second on /m/lookup (PDQ) against N banked hashes, p50/p99 latency.

    python bench/bench_api.py [--hashes 1000000] [--seconds 20] [--concurrency 8]

The server (``haechi serve``, one uvicorn process) and the load generator (threads with
keep-alive httpx clients) share this machine's cores, so the figures are a floor.
bench/bench_soak.py reuses the set-up and the load loop for the 10-minute memory soak.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from haechi import Haechi
from haechi.services import accounts
from haechi.store.models import BankEntry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


@dataclass
class Server:
    base: str
    token: str
    pid: int
    queries: list[str]
    load_seconds: float


@contextmanager
def prepared_server(hashes: int, seed: int = 1) -> Iterator[Server]:
    """A ``haechi serve`` process over a temporary home with ``hashes`` random banked PDQ hashes,
    a partner token, and 2,000 queries (half near-duplicates of banked hashes, half random)."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as home:
        with Haechi(home=home) as h:
            h.create_bank("load")
            codes = rng.integers(0, 256, (hashes, 32), dtype=np.uint8)
            t0 = time.perf_counter()
            with h.db.engine.begin() as conn:
                for i in range(0, hashes, 50_000):
                    conn.execute(insert(BankEntry), [
                        {"bank_id": 1, "signal_type": "pdq", "signal": c.tobytes().hex(), "quality": 100,
                         "source": "import"} for c in codes[i:i + 50_000]])
            load_s = time.perf_counter() - t0
            h.pdq_index()  # build and persist, so the server loads it
            with h.db.session() as s:
                accounts.add_user(s, "platform", "partner", None)
            with h.db.session() as s:
                token = accounts.create_token(s, "platform")
        port = free_port()
        env = dict(os.environ, HAECHI_HOME=home)
        server = subprocess.Popen([str(Path(sys.executable).with_name("haechi")), "serve", "--port", str(port)],  # noqa: S603
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            queries = []
            for i in range(2000):
                c = codes[rng.integers(0, hashes)].copy() if i % 2 else rng.integers(0, 256, 32, dtype=np.uint8)
                c[0] ^= 0x0F
                queries.append(c.tobytes().hex())
            yield Server(base, token, server.pid, queries, load_s)
        finally:
            server.terminate()
            server.wait(10)


@dataclass
class LoadResult:
    latencies_ms: np.ndarray
    errors: int
    wall_s: float
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, requests so far, server RSS MiB)


def lookup(srv: Server) -> Callable[[httpx.Client, int], httpx.Response]:
    return lambda client, i: client.get("/m/lookup", params={"signal_type": "pdq", "signal": srv.queries[i % 2000]})


def hash_upload(jpeg: bytes) -> Callable[[httpx.Client, int], httpx.Response]:
    return lambda client, i: client.post("/h/hash", files={"photo": ("p.jpg", jpeg, "image/jpeg")})


def run_load(srv: Server, seconds: float, concurrency: int, sample_every: float = 0.0,
             on_sample: Callable[[float, int, int], None] | None = None,
             call: Callable[[httpx.Client, int], httpx.Response] | None = None) -> LoadResult:
    """``concurrency`` keep-alive clients making ``call`` (default: a /m/lookup) for ``seconds``;
    with ``sample_every`` the server's RSS is sampled that often."""
    call = call or lookup(srv)
    latencies: list[float] = []
    errors = [0]
    done = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {srv.token}"}

    def worker(k: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=srv.base, headers=headers, timeout=10) as client:
            i = k
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    ok = call(client, i).status_code == 200
                except httpx.HTTPError:
                    ok = False
                mine.append(time.perf_counter() - t)
                with lock:
                    done[0] += 1
                    errors[0] += not ok
                i += concurrency
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    result = LoadResult(np.array([]), 0, 0.0)
    if sample_every:
        while any(t.is_alive() for t in threads):
            time.sleep(sample_every)
            sample = (time.perf_counter() - t0, done[0], rss_mib(srv.pid))
            result.samples.append(sample)
            if on_sample:
                on_sample(*sample)
    for t in threads:
        t.join()
    result.wall_s = time.perf_counter() - t0
    result.latencies_ms = np.array(latencies) * 1000
    result.errors = errors[0]
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    console = Console()
    import io

    from haechi.demo.samples import scene

    buf = io.BytesIO()
    scene(5, (1024, 768)).save(buf, "JPEG", quality=90)
    table = Table("route", "banked hashes", "concurrency", "requests", "errors", "req/s", "p50 ms", "p99 ms",
                  "server RSS MiB", title=f"HMA routes on 127.0.0.1, {os.cpu_count()} cores shared by server, client")
    with prepared_server(args.hashes) as srv:
        for route, call in (("GET /m/lookup (PDQ)", lookup(srv)),
                            ("POST /h/hash (1024x768 JPEG)", hash_upload(buf.getvalue()))):
            res = run_load(srv, args.seconds, args.concurrency, call=call)
            lat = res.latencies_ms
            table.add_row(route, f"{args.hashes:,}", str(args.concurrency), str(len(lat)), str(res.errors),
                          f"{len(lat) / res.wall_s:.0f}", f"{np.percentile(lat, 50):.1f}",
                          f"{np.percentile(lat, 99):.1f}", str(rss_mib(srv.pid)))
    console.print(table)
    console.print(f"(inserting {args.hashes:,} hashes took {srv.load_seconds:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
