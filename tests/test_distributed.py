"""Distributed scans: real Redis broker and PostgreSQL (CI has both on 127.0.0.1), a real
``haechi worker`` process; a worker killed with SIGKILL mid-task loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.transforms import make_copy
from haechi.store.models import JobItem

REDIS_URL = os.environ.get("HAECHI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def _redis_ok() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_ok() and not os.environ.get("HAECHI_REQUIRE_POSTGRES"),
                                reason="Redis not reachable")


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    queue = f"haechi-test-{uuid.uuid4().hex[:8]}"
    e = dict(os.environ, HAECHI_HOME=str(tmp_path / "home"), HAECHI_DATABASE_URL=database_url,
             HAECHI_BROKER_URL=REDIS_URL, HAECHI_QUEUE=queue, HAECHI_VISIBILITY_TIMEOUT="4")
    yield e
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(f"*{queue}*"):
        r.delete(key)
    r.delete("unacked", "unacked_index")


def _worker(e: dict[str, str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(Path(sys.executable).with_name("haechi")), "worker", "-c", "1"],
                            env=dict(e, **extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(p: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if p.poll() is None:
        os.killpg(p.pid, sig)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    bank, found = tmp_path / "bank", tmp_path / "found"
    bank.mkdir()
    found.mkdir()
    for i in range(3):
        scene(300 + i).save(bank / f"o{i}.png")
        make_copy(scene(300 + i), "crop_centre", seed=i).save(found / f"copy{i}.jpg", quality=90)
    scene(999).save(found / "unrelated.jpg", quality=90)
    (found / "broken.jpg").write_bytes(b"\xff\xd8\xff nope")
    return bank, found


def test_distributed_scan_matches_in_process(tmp_path: Path, env: dict[str, str]) -> None:
    bank, found = _corpus(tmp_path)
    h = Haechi(home=env["HAECHI_HOME"], database_url=env["HAECHI_DATABASE_URL"], workers=1,
               broker_url=env["HAECHI_BROKER_URL"])
    os.environ["HAECHI_QUEUE"] = env["HAECHI_QUEUE"]
    try:
        h.create_bank("v")
        list(h.add_to_bank("v", [bank]))
        local = {Path(r["path"]).name: [m["entry_id"] for m in r["matches"]] for r in h.scan([found])}
        worker = _worker(env)
        try:
            import haechi.workers.tasks as tasks

            tasks.QUEUE = env["HAECHI_QUEUE"]
            job = h.scan_distributed([found])
            rows = list(h.job_results(job, timeout=120))
            # a bank change made after the worker started is visible to its next task
            scene(777).save(tmp_path / "late.png")
            list(h.add_to_bank("v", [tmp_path / "late.png"]))
            make_copy(scene(777), "resize", seed=1).save(tmp_path / "late_copy.jpg", quality=90)
            job2 = h.scan_distributed([tmp_path / "late_copy.jpg"])
            (late,) = list(h.job_results(job2, timeout=60))
        finally:
            _stop(worker)
        remote = {Path(r["path"]).name: [m["entry_id"] for m in r["matches"]] for r in rows}
        assert remote == local
        assert late["matches"], late
        status = h.job_status(job)
        assert status["finished"] and status["done"] == 4 and status["failed"] == 1
    finally:
        os.environ.pop("HAECHI_QUEUE", None)
        h.close()


def test_sigkill_mid_task_loses_and_duplicates_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    bank, found = _corpus(tmp_path)
    h = Haechi(home=env["HAECHI_HOME"], database_url=env["HAECHI_DATABASE_URL"], workers=1,
               broker_url=env["HAECHI_BROKER_URL"])
    try:
        h.create_bank("v")
        list(h.add_to_bank("v", [bank]))
        import haechi.workers.tasks as tasks

        tasks.QUEUE = env["HAECHI_QUEUE"]
        os.environ["HAECHI_QUEUE"] = env["HAECHI_QUEUE"]
        job = h.scan_distributed([found])
        slow = _worker(env, HAECHI_TEST_TASK_DELAY="30")
        deadline = time.monotonic() + 60
        while h.job_status(job)["running"] == 0:  # wait until a task is in the middle of its work
            assert time.monotonic() < deadline, "worker never started a task"
            time.sleep(0.2)
        _stop(slow, signal.SIGKILL)  # the worker and its pool child die without acknowledging
        assert h.job_status(job)["done"] == 0
        time.sleep(5)  # past the visibility timeout: Redis gives the message to the next worker
        fresh = _worker(env)
        try:
            rows = list(h.job_results(job, timeout=180))
        finally:
            _stop(fresh)
        assert sorted(Path(r["path"]).name for r in rows) == sorted(p.name for p in found.iterdir())
        with h.db.session() as s:
            n = s.scalar(select(func.count()).select_from(JobItem).where(JobItem.job_id == job))
            attempts = dict(s.execute(select(JobItem.key, JobItem.attempts).where(JobItem.job_id == job)).all())
        assert n == 5  # one item per file: nothing duplicated
        assert max(attempts.values()) >= 2  # the killed task ran again
        assert all(r["matches"] for r in rows if Path(r["path"]).name.startswith("copy"))
    finally:
        os.environ.pop("HAECHI_QUEUE", None)
        h.close()


def test_doctor_reports_missing_broker(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from haechi.cli.main import app

    runner = CliRunner()
    ok = runner.invoke(app, ["doctor", "--json", "--home", str(tmp_path / "h")])
    assert '"check": "database", "ok": true' in ok.output
    bad = runner.invoke(app, ["doctor", "--json", "--home", str(tmp_path / "h")],
                        env={"HAECHI_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert bad.exit_code == 1 and '"check": "broker", "ok": false' in bad.output
