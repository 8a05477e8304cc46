"""API load: lookups per second on /m/lookup (PDQ) against N banked hashes, p50/p99 latency.

    python bench/bench_api.py [--hashes 1000000] [--seconds 20] [--concurrency 8]

The server (``haechi serve``, one uvicorn process) and the load generator (threads with
keep-alive httpx clients) share this machine's cores, so the figures are a floor.
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    console = Console()
    with tempfile.TemporaryDirectory() as home:
        with Haechi(home=home) as h:
            h.create_bank("load")
            bank_id = 1
            codes = rng.integers(0, 256, (args.hashes, 32), dtype=np.uint8)
            t0 = time.perf_counter()
            with h.db.engine.begin() as conn:
                for i in range(0, args.hashes, 50_000):
                    conn.execute(insert(BankEntry), [
                        {"bank_id": bank_id, "signal_type": "pdq", "signal": c.tobytes().hex(), "quality": 100,
                         "source": "import"} for c in codes[i:i + 50_000]])
            load_s = time.perf_counter() - t0
            h.pdq_index()  # build and persist, so the server loads it
            with h.db.session() as s:
                accounts.add_user(s, "platform", "partner", None)
            with h.db.session() as s:
                token = accounts.create_token(s, "platform")
        port = free_port()
        env = dict(os.environ, HAECHI_HOME=home)
        server = subprocess.Popen([str(Path(sys.executable).with_name("haechi")), "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}"}
            # half the queries are near-duplicates of banked hashes, half random
            queries = []
            for i in range(2000):
                c = codes[rng.integers(0, args.hashes)].copy() if i % 2 else rng.integers(0, 256, 32, dtype=np.uint8)
                c[0] ^= 0x0F
                queries.append(c.tobytes().hex())
            latencies: list[float] = []
            errors = [0]
            stop = time.monotonic() + args.seconds
            lock = threading.Lock()

            def worker(k: int) -> None:
                mine: list[float] = []
                with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                    i = k
                    while time.monotonic() < stop:
                        t = time.perf_counter()
                        r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": queries[i % len(queries)]})
                        mine.append(time.perf_counter() - t)
                        if r.status_code != 200:
                            with lock:
                                errors[0] += 1
                        i += args.concurrency
                with lock:
                    latencies.extend(mine)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.concurrency)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            rss = 0
            with open(f"/proc/{server.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) // 1024
        finally:
            server.terminate()
            server.wait(10)
    lat = np.array(latencies) * 1000
    table = Table("banked hashes", "concurrency", "requests", "errors", "req/s", "p50 ms", "p99 ms", "server RSS MiB",
                  title=f"/m/lookup (PDQ) on 127.0.0.1, {os.cpu_count()} cores shared by server and client")
    table.add_row(f"{args.hashes:,}", str(args.concurrency), str(len(lat)), str(errors[0]),
                  f"{len(lat) / wall:.0f}", f"{np.percentile(lat, 50):.1f}", f"{np.percentile(lat, 99):.1f}", str(rss))
    console.print(table)
    console.print(f"(inserting {args.hashes:,} hashes took {load_s:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
