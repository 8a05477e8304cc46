"""Crash safety: ``haechi`` processes killed with SIGKILL in the middle of a bank import, of a
scan that builds and persists the index, and of a capture; and writes that hit a full disk
(RLIMIT_FSIZE). Afterwards the database passes its integrity check, nothing committed is lost,
no half-written entry is visible, and running the command again completes without duplicates.

Sizes: ``HAECHI_CRASH_LINES`` lines per import (CI: 100,000; ``make crash-safety``: 1,000,000)
and ``HAECHI_CRASH_KILLS`` kills per scenario (CI: 3). ``make crash-safety`` also writes
bench/crash_safety.json, which scripts/reliability_report.py puts into bench/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from haechi.demo.samples import scene
from haechi.demo.transforms import make_copy

LINES = int(os.environ.get("HAECHI_CRASH_LINES", "100000"))
KILLS = int(os.environ.get("HAECHI_CRASH_KILLS", "3"))
REPORT = os.environ.get("HAECHI_CRASH_REPORT")
HAECHI = str(Path(sys.executable).with_name("haechi"))
_results: dict[str, Any] = {}


def _run(home: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HAECHI_HOME=str(home), HAECHI_WORKERS="1")
    return subprocess.run([HAECHI, *args], env=env, capture_output=True, text=True, timeout=900, **kw)  # noqa: S603


def _spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, HAECHI_HOME=str(home), HAECHI_WORKERS="1")
    return subprocess.Popen([HAECHI, *args], env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=subprocess.DEVNULL, text=True)


def _kill_after(proc: subprocess.Popen[str], seconds: float) -> bool:
    """SIGKILL after ``seconds``; False if the process had already finished."""
    try:
        proc.wait(seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return True


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "haechi.db")


def _integrity(home: Path) -> None:
    if not (home / "haechi.db").exists():  # killed before it opened the database (a loaded machine)
        return
    with _db(home) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def _entries(home: Path) -> int:
    with _db(home) as conn:
        return int(conn.execute("select count(*) from bank_entries").fetchone()[0])


def _hash_lines(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        for row in rng.integers(0, 256, size=(n, 32), dtype=np.uint8):
            fh.write(f'{{"signal_type": "pdq", "signal": "{row.tobytes().hex()}", "quality": 100}}\n')


def _record(name: str, **data: Any) -> None:
    _results[name] = data
    if REPORT:
        path = Path(REPORT)
        old = json.loads(path.read_text()) if path.exists() else {}
        old[name] = data
        path.write_text(json.dumps(old, indent=1))


def test_sigkill_during_bank_import(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(home, "bank", "create", "b").returncode == 0
    seed = tmp_path / "seed.jsonl"
    _hash_lines(seed, 100, 1)
    assert _run(home, "bank", "import", "b", str(seed)).returncode == 0
    big = tmp_path / "big.jsonl"
    _hash_lines(big, LINES, 2)
    t0 = time.monotonic()
    clean = _run(tmp_path / "timing", "bank", "create", "b")
    assert clean.returncode == 0
    assert _run(tmp_path / "timing", "bank", "import", "b", str(big)).returncode == 0
    full = time.monotonic() - t0
    outcomes = []
    rng = random.Random(7)
    for _ in range(KILLS):
        killed = _kill_after(_spawn(home, "bank", "import", "b", str(big)), rng.uniform(0.3, 0.9) * full)
        _integrity(home)
        n = _entries(home)
        assert n in (100, 100 + LINES), n  # all or nothing: never a half-written import
        outcomes.append({"killed": killed, "entries_after": n})
        if n == 100 + LINES:
            break
    done = _run(home, "bank", "import", "b", str(big))
    assert done.returncode == 0, done.stderr
    again = _run(home, "bank", "import", "b", str(big), "--json")
    assert again.returncode == 0 and _entries(home) == 100 + LINES  # re-running adds no duplicates
    _integrity(home)
    _record("bank_import", lines=LINES, full_import_seconds=round(full, 1), kills=outcomes,
            outcome="all-or-nothing; re-run complete, no duplicates")


def test_sigkill_during_scan_and_index_persistence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(home, "bank", "create", "b").returncode == 0
    big = tmp_path / "big.jsonl"
    _hash_lines(big, LINES, 3)
    assert _run(home, "bank", "import", "b", str(big)).returncode == 0
    folder = tmp_path / "found"
    folder.mkdir()
    originals = tmp_path / "orig"
    originals.mkdir()
    for i in range(4):
        scene(500 + i).save(originals / f"o{i}.png")
        make_copy(scene(500 + i), "resize", seed=i).save(folder / f"c{i}.jpg", quality=85)
    for i in range(20):
        scene(600 + i).save(folder / f"u{i}.jpg", quality=85)
    assert _run(home, "bank", "add", "b", str(originals)).returncode == 0
    index_dir = home / "index"

    def reset_index() -> None:
        import shutil

        shutil.rmtree(index_dir, ignore_errors=True)

    reset_index()
    t0 = time.monotonic()
    reference = _run(home, "scan", str(folder), "--json")
    full = time.monotonic() - t0
    assert reference.returncode == 0, reference.stderr
    expected = sorted((json.loads(line)["path"], len(json.loads(line)["matches"]))
                      for line in reference.stdout.splitlines())
    assert sum(n for _, n in expected) >= 4
    rng = random.Random(11)
    outcomes = []
    for k in range(KILLS):
        if k % 2 == 0:
            reset_index()  # the kill lands in the index build/save of this scan
        killed = _kill_after(_spawn(home, "scan", str(folder), "--json"), rng.uniform(0.2, 0.95) * full)
        _integrity(home)
        after = _run(home, "scan", str(folder), "--json")
        assert after.returncode == 0, after.stderr
        got = sorted((json.loads(line)["path"], len(json.loads(line)["matches"])) for line in after.stdout.splitlines())
        assert got == expected  # same results: no lost or duplicated index entries
        leftovers = [p.name for p in index_dir.iterdir() if p.name.endswith((".tmp", ".old"))]
        outcomes.append({"killed": killed, "leftovers_after_rerun": leftovers})
        assert not leftovers
    _record("scan_and_index_persistence", entries=LINES + 4, full_scan_seconds=round(full, 1), kills=outcomes,
            outcome="identical results after every kill; no leftover half-written index")


class _Slow(BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/slow"):
            time.sleep(0.4)
        body = b'<html><img src="/m.jpg"></html>' if self.path.endswith(".html") else self.body
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if self.path.endswith(".html") else "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_sigkill_during_capture(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    scene(77).save(buf, "JPEG", quality=90)
    _Slow.body = buf.getvalue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    home = tmp_path / "home"
    urls = [f"{base}/slow/{i}.html" for i in range(12)]
    try:
        rng = random.Random(5)
        outcomes = []
        for _ in range(KILLS):
            killed = _kill_after(_spawn(home, "capture", *urls, "--case", "K", "--no-screenshot", "--allow-private"),
                                 rng.uniform(1.0, 4.0))
            _integrity(home)
            verify = _run(home, "evidence", "verify", "--json")
            assert verify.returncode == 0, verify.stdout + verify.stderr  # chain intact, artefacts as logged
            with _db(home) as conn:
                caps = conn.execute("select count(*), count(distinct custody_entry_id) from captures").fetchone()
                logged = conn.execute("select count(*) from custody_log where action = 'capture'").fetchone()[0]
            assert caps[0] == caps[1] == logged  # every capture row has its custody entry and vice versa
            outcomes.append({"killed": killed, "captures_recorded": caps[0]})
        _record("capture", urls=len(urls), kills=outcomes,
                outcome="custody chain and artefacts verify after every kill; capture rows == custody entries")
    finally:
        server.shutdown()


def _limited(limit_bytes: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def test_disk_full_gives_a_clear_error_and_a_consistent_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(home, "bank", "create", "b").returncode == 0
    seed = tmp_path / "seed.jsonl"
    _hash_lines(seed, 1000, 4)
    assert _run(home, "bank", "import", "b", str(seed)).returncode == 0
    size = (home / "haechi.db").stat().st_size
    big = tmp_path / "big.jsonl"
    _hash_lines(big, 50_000, 5)
    env = dict(os.environ, HAECHI_HOME=str(home), HAECHI_WORKERS="1")
    full = subprocess.run([HAECHI, "bank", "import", "b", str(big)], env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=600, preexec_fn=_limited(size + 64 * 1024))  # noqa: PLW1509
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])
    assert "full" in full.stderr and "Traceback" not in full.stderr, full.stderr[-2000:]
    _integrity(home)
    assert _entries(home) == 1000  # the earlier import is intact, nothing of the failed one is visible
    assert _run(home, "bank", "import", "b", str(big)).returncode == 0  # with room again it completes
    assert _entries(home) == 51_000
    # evidence capture on a full disk: a clear error, and nothing recorded that is not on disk
    _Slow.body = b"\xff\xd8" + os.urandom(300_000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        size = (home / "haechi.db").stat().st_size
        cap = subprocess.run([HAECHI, "capture", f"http://127.0.0.1:{server.server_port}/p.html", "--no-screenshot",  # noqa: S603
                              "--allow-private"], env=env, capture_output=True, text=True, timeout=300,
                             preexec_fn=_limited(100_000))  # noqa: PLW1509 - below the 300 kB WARC
        assert cap.returncode != 0 and "full" in cap.stderr and "Traceback" not in cap.stderr, cap.stderr[-2000:]
        _integrity(home)
        verify = _run(home, "evidence", "verify", "--json")
        assert verify.returncode == 0, verify.stdout
    finally:
        server.shutdown()
    _record("disk_full", outcome="clear 'storage full' error; earlier data intact; re-run completes")
