"""API load: lookups per second on /m/lookup (PDQ) against N banked hashes and hashes per second
on POST /h/hash (a 1024x768 JPEG), each with 1 and 2 server processes (``haechi serve --workers
N``), p50/p99 latency and the 2-process/1-process ratio; and, with ``--heavy``, the latency of
``/api/me`` while two heavy uploads (an 8900x8900 PNG of ~80 KB) are being hashed, with the
hashing pool off (``hash_pool_workers = 0``: decoded in the serving process) and on.

    python bench/bench_api.py [--hashes 1000000] [--seconds 20] [--concurrency 8] [--out bench/api.md]
    python bench/bench_api.py --heavy [--heavy-seconds 30] [--before-code /path/to/older/checkout]

The server and the load generator (threads with keep-alive httpx clients) share this machine's
cores, so the figures are a floor.

A baseline in the same run (issue #21: HMA beside Haechi): ``--baseline-cmd 'CMD {workers} {port}'``
starts another server (CMD prints its PID last; it is stopped with SIGTERM), ``--hashes-file``
banks in Haechi the same PDQ hashes the baseline holds, ``--pin`` gives each run as many cores as
it has server processes (``taskset``). ``make bench-api BENCH_API_ARGS="..."`` passes them on.
Nothing of HMA is in this repository: build and start it yourself from its repository.

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
    hashes: int = 0


@contextmanager
def prepared_home(hashes: int, seed: int = 1, hashes_file: Path | None = None) -> Iterator[PreparedHome]:
    """A temporary home with ``hashes`` random banked PDQ hashes (or, with ``hashes_file``, the
    64-hex-digit hashes it lists, one per line: the same bank as a baseline server's) and its
    persisted index, a partner token, and 2,000 queries (half near-duplicates of banked hashes,
    half random)."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as home:
        with Haechi(home=home) as h:
            h.create_bank("load")
            if hashes_file is not None:
                lines = [x.strip() for x in hashes_file.read_text().split() if x.strip()]
                codes = np.frombuffer(bytes.fromhex("".join(lines)), dtype=np.uint8).reshape(-1, 32).copy()
                hashes = len(codes)
            else:
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
        yield PreparedHome(home, token, queries, load_s, hashes)


@contextmanager
def running_server(prep: PreparedHome, workers: int = 1, env: dict[str, str] | None = None,
                   warm: bool = True, cpus: str | None = None) -> Iterator[Server]:
    """``haechi serve --workers N`` over a prepared home, until the block ends; ``env`` adds to
    the server's environment (settings as ``HAECHI_<NAME>``, or ``PYTHONPATH`` for another
    checkout); ``cpus`` (``taskset`` list, e.g. ``"0"``) confines the server and its hashing pool."""
    port = free_port()
    env = dict(os.environ, HAECHI_HOME=prep.home, **(env or {}))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    pin = ["taskset", "-c", cpus] if cpus else []
    server = subprocess.Popen([*pin, str(Path(sys.executable).with_name("haechi")), "serve", "--port", str(port),  # noqa: S603
                               "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a loaded, shared machine starts slowly
        while True:
            try:
                if httpx.get(f"{base}/status", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"server did not start: {log.read().decode(errors='replace')[-2000:]}")
        time.sleep(3.0 if workers > 1 else 0)  # every worker up (each loads the index), not just the first
        srv = Server(base, prep.token, server.pid, prep.queries, prep.load_seconds)
        # warm up: each server thread's first request opens its database connection and the first
        # search loads the compiled kernel (~300 ms) — not what a running service sees
        if warm:
            run_load(srv, 3.0, 8)
        yield srv
    finally:
        server.terminate()
        server.wait(20)
        log.close()


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


def lookup(srv: Server, fmt: str | None = "hma") -> Callable[[httpx.Client, int], httpx.Response]:
    """``GET /m/lookup`` in HMA's answer shape (``{"BANK": [{bank_content_id, distance}]}``) or,
    with ``fmt="legacy"``, Haechi's earlier one (``["BANK"]``); None sends no ``format`` (HMA)."""
    def call(client: httpx.Client, i: int) -> httpx.Response:
        params = {"signal_type": "pdq", "signal": srv.queries[i % len(srv.queries)]}
        return client.get("/m/lookup", params={**params, "format": fmt} if fmt else params)

    return call


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
    headers = {"Authorization": f"Bearer {srv.token}"} if srv.token else {}

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


#: printed when no baseline was measured in the run
HMA_NOTE = ("HMA 1.1.7 — from issue #21's run, not re-measured here: GET /m/lookup 220 req/s (p99 168 ms; 362 "
            "req/s with faiss threads pinned); POST /h/hash (1024x768 JPEG) 40.5 req/s with 1 process, 56 with 2 "
            "(ratio 1.38). Haechi in that run, before the hashing pool: lookup 548 req/s, hash 31.9 req/s with 1 "
            "process and 30-31 with 2.")


def heavy_png(side: int = 8900) -> bytes:
    """An ~80 KB PNG of ``side`` x ``side`` pixels: cheap to send, seconds to decode and hash."""
    import io

    from PIL import Image, ImageDraw

    im = Image.new("L", (side, side), 0)
    ImageDraw.Draw(im).rectangle((side // 9, side // 9, side // 2, side // 2), fill=200)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=9)
    return buf.getvalue()


@dataclass
class HeavyResult:
    me_ms: np.ndarray
    heavy: list[tuple[int, float]]  # (status, seconds) of each heavy upload that ended in the window


def me_during_heavy(srv: Server, png: bytes, seconds: float, uploaders: int = 2) -> HeavyResult:
    """``GET /api/me`` from one keep-alive client, one request after another, for ``seconds``
    while ``uploaders`` clients keep POSTing ``png`` to /h/hash."""
    headers = {"Authorization": f"Bearer {srv.token}"} if srv.token else {}
    stop = time.monotonic() + seconds
    heavy: list[tuple[int, float]] = []
    lock = threading.Lock()

    def upload() -> None:
        with httpx.Client(base_url=srv.base, headers=headers, timeout=600) as client:
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    status = client.post("/h/hash", files={"file": ("heavy.png", png, "image/png")}).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    heavy.append((status, time.perf_counter() - t))

    threads = [threading.Thread(target=upload) for _ in range(uploaders)]
    for th in threads:
        th.start()
    time.sleep(1.0)  # the uploads are in the server before the first /api/me
    me: list[float] = []
    with httpx.Client(base_url=srv.base, headers=headers, timeout=600) as client:
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                ok = client.get("/api/me").status_code == 200
            except httpx.HTTPError:
                ok = False
            me.append(time.perf_counter() - t if ok else float("inf"))
            time.sleep(0.02)
    for th in threads:
        th.join()
    return HeavyResult(np.array(me) * 1000, heavy)


@contextmanager
def baseline_server(cmd: str, workers: int, queries: list[str], cpus: str | None = None) -> Iterator[Server]:
    """Another server (a baseline, e.g. HMA) started by ``cmd`` — a command line with ``{workers}``
    and ``{port}`` that starts it in the background on 127.0.0.1 and prints its PID as the last
    word of its output — stopped with SIGTERM when the block ends. ``cpus`` confines it as
    :func:`running_server` does (its processes inherit the affinity)."""
    import shlex
    import signal

    port = free_port()
    pin = ["taskset", "-c", cpus] if cpus else []
    out = subprocess.run([*pin, *shlex.split(cmd.format(workers=workers, port=port))],  # noqa: S603
                         capture_output=True, text=True, timeout=300, check=True).stdout
    pid = int(out.split()[-1])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/status", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline on port {port} did not answer /status")
            time.sleep(0.3)
        srv = Server(base, "", pid, queries, 0.0)
        run_load(srv, 3.0, 8, call=lookup(srv, None))
        yield srv
    finally:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)


def bench_rates(args: argparse.Namespace, console: Console) -> list[str]:
    """Lookup and hash rates with each process count, for Haechi and (``--baseline-cmd``) a
    baseline server measured in the same run with the same load: a rich table, and markdown."""
    import io

    from haechi.demo.samples import scene

    buf = io.BytesIO()
    scene(5, (1024, 768)).save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    lookup_route, hash_route = f"GET /m/lookup (PDQ, {args.format})", "POST /h/hash (1024x768 JPEG)"
    pool_off = "POST /h/hash, pool off (hash_pool_workers = 0)"
    cores = _cores_here()

    def cpus(workers: int) -> str | None:  # --pin: N server processes on N cores
        return ",".join(str(c) for c in sorted(cores)[:workers]) if args.pin else None

    rows: list[tuple[str, str]] = [("Haechi", lookup_route), ("Haechi", hash_route)]
    if args.pool_off_baseline:
        rows.append(("Haechi", pool_off))
    if args.baseline_cmd:
        rows += [(args.baseline_name, lookup_route), (args.baseline_name, hash_route)]
    measured: dict[tuple[str, str, int], tuple[int, int, float, float, float, int]] = {}

    def measure(server: str, route: str, workers: int, srv: Server,
                call: Callable[[httpx.Client, int], httpx.Response]) -> None:
        res = run_load(srv, args.seconds, args.concurrency, call=call)
        lat = res.latencies_ms
        measured[server, route, workers] = (len(lat), res.errors, len(lat) / res.wall_s,
                                            float(np.percentile(lat, 50)), float(np.percentile(lat, 99)),
                                            rss_mib(srv.pid))
        console.print(f"{server} {route} with {workers} process(es): {len(lat) / res.wall_s:.1f} req/s, "
                      f"{res.errors} errors")

    with prepared_home(args.hashes, hashes_file=args.hashes_file) as prep:
        for workers in args.workers:
            with running_server(prep, workers, cpus=cpus(workers)) as srv:
                measure("Haechi", lookup_route, workers, srv, lookup(srv, args.format))
                measure("Haechi", hash_route, workers, srv, hash_upload(jpeg))
            if args.pool_off_baseline:
                with running_server(prep, workers, env={"HAECHI_HASH_POOL_WORKERS": "0"}, cpus=cpus(workers)) as srv:
                    measure("Haechi", pool_off, workers, srv, hash_upload(jpeg))
            if args.baseline_cmd:
                with baseline_server(args.baseline_cmd, workers, prep.queries, cpus(workers)) as srv:
                    measure(args.baseline_name, lookup_route, workers, srv, lookup(srv, None))
                    measure(args.baseline_name, hash_route, workers, srv, hash_upload(jpeg))
    hashes = prep.hashes
    pinned = " (each run confined with taskset to as many cores as it has server processes)" if args.pin else ""
    cols = ["server", "route", *(f"req/s, {w} proc" for w in args.workers), "ratio 2/1",
            *(f"p99 ms, {w} proc" for w in args.workers), "errors"]
    table = Table(*cols, title=f"HMA routes on 127.0.0.1 against {hashes:,} banked PDQ hashes; {len(cores)} cores "
                               f"shared by server and load generator{pinned}; {args.concurrency} clients, "
                               f"{args.seconds:g} s per cell")
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for server, route in rows:
        cells = [measured[server, route, w] for w in args.workers]
        ratio = (f"{cells[1][2] / cells[0][2]:.2f}" if len(cells) >= 2 and args.workers[:2] == [1, 2] else "-")
        row = [server, route, *(f"{c[2]:.1f}" for c in cells), ratio, *(f"{c[4]:.0f}" for c in cells),
               str(sum(c[1] for c in cells))]
        table.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    versus = []
    if args.baseline_cmd:
        for route in (lookup_route, hash_route):
            for w in args.workers:
                ours, theirs = measured["Haechi", route, w][2], measured[args.baseline_name, route, w][2]
                versus.append(f"{route}, {w} proc: Haechi / {args.baseline_name} = {ours / theirs:.2f}")
    console.print(table)
    for line in versus:
        console.print(line)
    if not args.baseline_cmd:
        console.print(HMA_NOTE)
    return [f"### Rates ({hashes:,} banked hashes, {args.concurrency} keep-alive clients, "
            f"{args.seconds:g} s per cell, {len(cores)} cores shared by server and load generator{pinned})", "",
            *md, "", *(f"- {line}" for line in versus), *([] if args.baseline_cmd else [f"> {HMA_NOTE}"]), ""]


def _cores_here() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except AttributeError:
        return set(range(os.cpu_count() or 1))


def bench_heavy(args: argparse.Namespace, console: Console) -> list[str]:
    """/api/me p50/p99 while two heavy uploads run: pool off, pool on (and an older checkout)."""
    png = heavy_png()
    cells: list[tuple[str, dict[str, str]]] = []
    if args.before_code:
        cells.append((f"before this change ({args.before_code}: hashed on the event loop)",
                      {"PYTHONPATH": args.before_code}))
    cells += [("pool off (hash_pool_workers = 0: decoded in a server thread)", {"HAECHI_HASH_POOL_WORKERS": "0"}),
              ("pool on (default: one worker per core, 60 s limit)", {})]
    cols = ["server", "/api/me requests", "p50 ms", "p99 ms", "max ms", "heavy uploads ended", "their statuses",
            "their seconds (median)"]
    table = Table(*cols, title=f"/api/me while 2 clients keep uploading an 8900x8900 PNG ({len(png):,} bytes) "
                               f"to POST /h/hash; {args.heavy_seconds:g} s per cell, 1 server process")
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, env in cells:  # a home each: an older checkout's migrations must not meet this one's
        with prepared_home(1000) as prep, running_server(prep, 1, env=env, warm=False) as srv:
            res = me_during_heavy(srv, png, args.heavy_seconds)
        me = res.me_ms
        statuses = sorted({s for s, _ in res.heavy})
        row = [name, str(len(me)), f"{np.percentile(me, 50):.1f}", f"{np.percentile(me, 99):.1f}",
               f"{me.max():.0f}", str(len(res.heavy)), ", ".join(map(str, statuses)),
               f"{np.median([t for _, t in res.heavy]):.1f}" if res.heavy else "-"]
        table.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    console.print(table)
    return [f"### /api/me while two heavy uploads run ({args.heavy_seconds:g} s per cell, 1 server process, "
            f"{os.cpu_count()} cores shared)", "", *md, ""]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server process counts to measure")
    ap.add_argument("--format", choices=["hma", "legacy"], default="hma", help="/m/lookup answer shape")
    ap.add_argument("--pool-off-baseline", action="store_true",
                    help="also measure /h/hash with the hashing pool off (this run's baseline)")
    ap.add_argument("--heavy", action="store_true", help="also measure /api/me during heavy uploads")
    ap.add_argument("--heavy-only", action="store_true", help="only the heavy-upload measurement")
    ap.add_argument("--heavy-seconds", type=float, default=30)
    ap.add_argument("--before-code", help="a checkout whose server is measured as 'before' (heavy mode)")
    ap.add_argument("--hashes-file", type=Path,
                    help="bank these PDQ hashes (64 hex digits per line) instead of --hashes random ones: "
                         "the same bank a baseline server holds")
    ap.add_argument("--baseline-cmd",
                    help="a command with {workers} and {port} that starts a baseline server (e.g. HMA) in the "
                         "background on 127.0.0.1 and prints its PID last; measured with the same load")
    ap.add_argument("--baseline-name", default="HMA")
    ap.add_argument("--pin", action="store_true",
                    help="confine each run with taskset to as many cores as it has server processes "
                         "(scaling with processes on a machine with more cores than one process uses)")
    ap.add_argument("--out", type=Path, help="write the tables as markdown here")
    args = ap.parse_args()
    console = Console()
    md = [f"## bench/bench_api.py ({time.strftime('%Y-%m-%d')}; machine shared with other jobs)", ""]
    if not args.heavy_only:
        md += bench_rates(args, console)
    if args.heavy or args.heavy_only:
        md += bench_heavy(args, console)
    if args.out:
        args.out.write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
