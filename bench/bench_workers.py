"""Distributed scanning: images/s end to end with 1 and 2 Celery worker processes against
PostgreSQL + Redis on this machine, queue latency, and the cost of a bank update becoming
visible to workers.

    python bench/bench_workers.py [--images 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.transforms import make_copy

PG = os.environ.get("HAECHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("HAECHI_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(PG)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG}?options=-csearch_path%3D{schema}"
    table = Table("workers", "images", "seconds", "images/s", "scaling", "first result after (s)",
                  title="Distributed scan (PostgreSQL + Redis + haechi worker), this machine")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "bank").mkdir()
            (root / "found").mkdir()
            for i in range(20):
                scene(500 + i).save(root / "bank" / f"{i}.png")
            for i in range(args.images):
                im = make_copy(scene(500 + i % 20), "resize", seed=i) if i % 4 == 0 else scene(9000 + i)
                im.save(root / "found" / f"{i}.jpg", quality=88)
            queue = f"bench-{uuid.uuid4().hex[:6]}"
            env = dict(os.environ, HAECHI_HOME=str(root / "home"), HAECHI_DATABASE_URL=url, HAECHI_BROKER_URL=REDIS,
                       HAECHI_QUEUE=queue)
            os.environ["HAECHI_QUEUE"] = queue
            import haechi.workers.tasks as tasks

            tasks.QUEUE = queue
            h = Haechi(home=root / "home", database_url=url, broker_url=REDIS, workers=1, queue=queue)
            h.create_bank("b")
            list(h.add_to_bank("b", [root / "bank"]))
            base = None
            for n in (1, 2):
                worker = subprocess.Popen([str(Path(sys.executable).with_name("haechi")), "worker", "-c", str(n)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
                try:
                    warm = h.scan_distributed([root / "found" / "0.jpg"])
                    list(h.job_results(warm, timeout=120))
                    time.sleep(1)
                    t0 = time.perf_counter()
                    job = h.scan_distributed([root / "found"])
                    first = None
                    for _ in h.job_results(job, timeout=600, poll=0.05):
                        first = first or time.perf_counter() - t0
                    secs = time.perf_counter() - t0
                finally:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(30)
                rate = args.images / secs
                base = base or rate
                table.add_row(str(n), str(args.images), f"{secs:.1f}", f"{rate:.1f}", f"{rate / base:.2f}x",
                              f"{first:.2f}")
            # bank update visibility: one new entry, then the refresh every task does
            h.refresh_index()
            t0 = time.perf_counter()
            h.refresh_index()
            idle = time.perf_counter() - t0
            scene(4242).save(root / "late.png")
            list(h.add_to_bank("b", [root / "late.png"]))
            h.runtime._pdq_index = None
            h.pdq_index()
            scene(4243).save(root / "late2.png")
            with Haechi(home=root / "home", database_url=url) as other:
                list(other.add_to_bank("b", [root / "late2.png"]))
            t0 = time.perf_counter()
            h.refresh_index()
            changed = time.perf_counter() - t0
            h.close()
        Console().print(table)
        Console().print(f"bank update visibility: refresh when nothing changed {1000 * idle:.1f} ms, after another "
                        f"process added an entry {1000 * changed:.1f} ms (done at the start of every task)")
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
