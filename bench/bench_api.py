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
    """Resident memory of ``pid`` and its children (uvicorn's worker processes), in MiB."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            total = next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                total += sum(rss_mib(int(child)) * 1024 for child in fh.read().split())
    except OSError:
        pass
    return total // 1024


@dataclass
class Server:
    base: str
    token: str
    pid: int
    queries: list[str]
    load_seconds: float


@dataclass
class PreparedHome:
    home: str
    token: str
    queries: list[str]
    load_seconds: float


@contextmanager
def prepared_home(hashes: int, seed: int = 1) -> Iterator[PreparedHome]:
    """A temporary home with ``hashes`` random banked PDQ hashes and its persisted index, a
    partner token, and 2,000 queries (half near-duplicates of banked hashes, half random)."""
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
        queries = []
        for i in range(2000):
            c = codes[rng.integers(0, hashes)].copy() if i % 2 else rng.integers(0, 256, 32, dtype=np.uint8)
            c[0] ^= 0x0F
            queries.append(c.tobytes().hex())
        yield PreparedHome(home, token, queries, load_s)


@contextmanager
def running_server(prep: PreparedHome, workers: int = 1) -> Iterator[Server]:
    """``haechi serve --workers N`` over a prepared home, until the block ends."""
    port = free_port()
    env = dict(os.environ, HAECHI_HOME=prep.home)
    server = subprocess.Popen([str(Path(sys.executable).with_name("haechi")), "serve", "--port", str(port),  # noqa: S603
                               "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(3.0 if workers > 1 else 0)  # every worker up (each loads the index), not just the first
        srv = Server(base, prep.token, server.pid, prep.queries, prep.load_seconds)
        # warm up: each server thread's first request opens its database connection and the first
        # search loads the compiled kernel (~300 ms) — not what a running service sees
        run_load(srv, 3.0, 8)
        yield srv
    finally:
        server.terminate()
        server.wait(20)


@contextmanager
def prepared_server(hashes: int, seed: int = 1, workers: int = 1) -> Iterator[Server]:
    """A prepared home with one server over it."""
    with prepared_home(hashes, seed) as prep, running_server(prep, workers) as srv:
        yield srv


@dataclass
class LoadResult:
    latencies_ms: np.ndarray
    errors: int
    wall_s: float
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, requests so far, server RSS MiB)


def lookup(srv: Server, fmt: str = "hma") -> Callable[[httpx.Client, int], httpx.Response]:
    """``GET /m/lookup`` in HMA's answer shape (``{"BANK": [{bank_content_id, distance}]}``) or,
    with ``fmt="legacy"``, Haechi's earlier one (``["BANK"]``)."""
    return lambda client, i: client.get("/m/lookup", params={"signal_type": "pdq", "signal": srv.queries[i % 2000],
                                                             "format": fmt})


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


WRK_SCRIPT = """
local paths = {%s}
local i = 0
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\\"requests\\": %%d, \\"us\\": %%d, \\"errors\\": %%d, \\"p50_us\\": %%d, "
    .. "\\"p99_us\\": %%d}\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(srv: Server, seconds: float, connections: int) -> dict[str, float] | None:
    """The same /m/lookup load from ``wrk`` (C, one thread: far lighter than Python clients, so
    the server gets most of the machine); None when wrk is not installed (Debian: ``wrk``)."""
    import json
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    paths = ",".join(f'"/m/lookup?signal_type=pdq&signal={q}"' for q in srv.queries)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % (paths, srv.token))
    try:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", fh.name,  # noqa: S603
                              srv.base], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(fh.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    r = json.loads(line.removeprefix("WRKJSON "))
    return {"requests": r["requests"], "errors": r["errors"], "rps": r["requests"] / (r["us"] / 1e6),
            "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000}


#: HMA 1.1.7 measured the same way (issue #21: run from its repository with its own config and
#: PostgreSQL, 1,001,000-hash bank, this kind of 2-core machine), for reading the table beside
HMA_REFERENCE = ("HMA 1.1.7, same kind of run (issue #21): GET /m/lookup 220 req/s, p99 168 ms (362 with faiss "
                 "threads pinned); POST /h/hash (1024x768 JPEG) 40.5 req/s with 1 process, 56 with 2; "
                 "Haechi then: lookup 548 req/s (p99 75 ms), hash 31.9 req/s with 1 process and 30-31 with 2.")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server process counts to measure")
    ap.add_argument("--format", choices=["hma", "legacy"], default="hma", help="/m/lookup answer shape")
    args = ap.parse_args()
    console = Console()
    import io

    from haechi.demo.samples import scene

    buf = io.BytesIO()
    scene(5, (1024, 768)).save(buf, "JPEG", quality=90)
    table = Table("route", "load", "server processes", "concurrency", "requests", "errors", "req/s", "p50 ms",
                  "p99 ms", "server RSS MiB",
                  title=f"HMA routes on 127.0.0.1 against {args.hashes:,} banked PDQ hashes; "
                        f"{os.cpu_count()} cores shared by server and load generator")

    def row(route: str, load: str, workers: int, srv: Server, n: int, errors: int, rps: float, p50: float,
            p99: float) -> None:
        table.add_row(route, load, str(workers), str(args.concurrency), str(n), str(errors), f"{rps:.0f}",
                      f"{p50:.1f}", f"{p99:.1f}", str(rss_mib(srv.pid)))

    with prepared_home(args.hashes) as prep:
        for workers in args.workers:
            with running_server(prep, workers) as srv:
                for route, call in ((f"GET /m/lookup (PDQ, {args.format})", lookup(srv, args.format)),
                                    ("POST /h/hash (1024x768 JPEG)", hash_upload(buf.getvalue()))):
                    res = run_load(srv, args.seconds, args.concurrency, call=call)
                    lat = res.latencies_ms
                    row(route, "Python threads", workers, srv, len(lat), res.errors, len(lat) / res.wall_s,
                        np.percentile(lat, 50), np.percentile(lat, 99))
                w = run_wrk(srv, args.seconds, args.concurrency)
                if w is not None:
                    row("GET /m/lookup (PDQ)", "wrk", workers, srv, int(w["requests"]), int(w["errors"]), w["rps"],
                        w["p50_ms"], w["p99_ms"])
    console.print(table)
    console.print(f"(inserting {args.hashes:,} hashes took {prep.load_seconds:.1f}s)")
    console.print(HMA_REFERENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
