"""Distributed scans: real Redis broker and PostgreSQL (CI has both on 127.0.0.1), a real
``haechi worker`` process; a worker killed with SIGKILL mid-task loses and duplicates nothing."""

from __future__ import annotations

import dataclasses
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
from tests.test_evidence import site  # noqa: F401 - the test web server fixture

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
               broker_url=env["HAECHI_BROKER_URL"], queue=env["HAECHI_QUEUE"])
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
               broker_url=env["HAECHI_BROKER_URL"], queue=env["HAECHI_QUEUE"])
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


def _captures(h: Haechi, case_ref: str) -> dict[str, int]:
    from haechi.store.models import Capture

    with h.db.session() as s:
        return dict(s.execute(select(Capture.url, func.count()).where(Capture.case_ref == case_ref)
                              .group_by(Capture.url)).all())


@pytest.fixture
def cluster(env: dict[str, str]) -> Iterator[Haechi]:
    import haechi.workers.tasks as tasks

    h = Haechi(home=env["HAECHI_HOME"], database_url=env["HAECHI_DATABASE_URL"], workers=1,
               broker_url=env["HAECHI_BROKER_URL"], queue=env["HAECHI_QUEUE"])
    old_queue = tasks.QUEUE
    tasks.QUEUE = env["HAECHI_QUEUE"]
    os.environ["HAECHI_QUEUE"] = env["HAECHI_QUEUE"]
    try:
        yield h
    finally:
        tasks.QUEUE = old_queue
        os.environ.pop("HAECHI_QUEUE", None)
        h.close()


def test_distributed_capture_recheck_crawl_and_beat(tmp_path: Path, env: dict[str, str], cluster: Haechi,
                                                     site: str) -> None:  # noqa: F811
    import haechi.workers.tasks as tasks
    from haechi.cases import service as cases

    h = cluster
    case = h.create_case(victim_ref="v-dist")["case"]
    worker = _worker(env)
    try:
        job = h.enqueue("capture", [f"{site}/page.html", f"{site}/img/og.jpg", f"{site}/page.html"],
                        {"case": case, "allow_private": True})
        rows = list(h.job_results(job, timeout=120))
        assert len(rows) == 2 and all(r["error"] is None for r in rows)  # the duplicate URL is one item
        assert _captures(h, case) == {f"{site}/page.html": 1, f"{site}/img/og.jpg": 1}
        assert h.verify_custody()["ok"]
        # a notified item whose page is gone: beat's recheck job marks it removed, with a capture
        with h.db.session() as s:
            item, _ = cases.add_item(s, case, f"{site}/gone", [], "test")
            cases.set_item_status(s, item["id"], "notified", "test")
        # the beat task runs here, against this instance's database, configured for the test lab
        tasks._haechi = Haechi(settings=dataclasses.replace(h.settings, allow_private_urls=True))
        try:
            recheck_job = tasks.schedule_rechecks.run()
            h.add_watch(case, f"{site}/page.html", "1h", allow_private=True)
            watch_job = tasks.schedule_watches.run()
        finally:
            tasks._haechi.close()
            tasks._haechi = None
        assert recheck_job and watch_job
        (rechecked,) = list(h.job_results(recheck_job, timeout=60))
        assert rechecked["status"] == "removed" and rechecked["capture_id"]
        assert h.show_case(case)["items"][0]["status"] == "removed"
        (watched,) = list(h.job_results(watch_job, timeout=60))
        assert watched["source"] == f"{site}/page.html" and watched["error"] is None
        crawl_job = h.enqueue("crawl", [f"{site}/page.html"], {"case": "CRAWL", "depth": 1, "max_pages": 3,
                                                                "rate": 0, "allow_private": True})
        (crawled,) = list(h.job_results(crawl_job, timeout=120))
        assert crawled["pages"] >= 2 and f"{site}/page.html" in _captures(h, "CRAWL")
    finally:
        _stop(worker)


@pytest.mark.parametrize("where", ["before_commit", "after_commit"])
def test_sigkill_mid_capture_records_each_capture_once(tmp_path: Path, env: dict[str, str], cluster: Haechi,
                                                       site: str, where: str) -> None:  # noqa: F811
    h = cluster
    urls = [f"{site}/img/og.jpg", f"{site}/img/other.jpg"]
    job = h.enqueue("capture", urls, {"case": "KILL", "allow_private": True})
    delay = {"HAECHI_TEST_TASK_DELAY": "30"} if where == "before_commit" else {"HAECHI_TEST_TASK_DELAY_AFTER": "30"}
    slow = _worker(env, **delay)
    deadline = time.monotonic() + 60
    while True:  # before: a task is running; after: one capture is committed and its task still open
        st = h.job_status(job)
        if (st["running"] if where == "before_commit" else st["done"]) >= 1:
            break
        assert time.monotonic() < deadline, "worker never reached the kill point"
        time.sleep(0.2)
    _stop(slow, signal.SIGKILL)
    time.sleep(5)  # past the visibility timeout
    fresh = _worker(env)
    try:
        rows = list(h.job_results(job, timeout=120))
    finally:
        _stop(fresh)
    assert len(rows) == 2 and all(r["error"] is None for r in rows)
    assert _captures(h, "KILL") == {u: 1 for u in urls}  # nothing lost, nothing captured twice
    assert h.verify_custody()["ok"]


def test_sigkill_mid_crawl_continues_on_another_worker(tmp_path: Path, env: dict[str, str], cluster: Haechi,
                                                       site: str) -> None:  # noqa: F811
    """A crawl's state lives in the shared database: a worker on another machine (here: another
    home) picks up the redelivered task and goes on from the page where the dead one stopped."""
    import json

    from haechi.store.models import CrawlState
    from tests.test_evidence import _Handler

    h = cluster
    pages = {f"/k/{n}.html": f'<a href="/k/{n + 1}.html">next</a>'.encode() for n in range(4)}
    for path, body in pages.items():
        _Handler.routes[path] = (200, "text/html", body, {})
    job = h.enqueue("crawl", [f"{site}/k/0.html"], {"case": "KCRAWL", "depth": 5, "max_pages": 4, "rate": 0.25,
                                                     "allow_private": True})
    first = _worker(env)  # waits 4 s between pages: killed in such a wait, after page 1 or 2
    deadline = time.monotonic() + 60
    while True:
        with h.db.session() as s:
            row = s.scalar(select(CrawlState))
            done = json.loads(row.state)["pages"] if row is not None else 0
        if done >= 1:
            break
        assert time.monotonic() < deadline, "the crawl never started"
        time.sleep(0.2)
    _stop(first, signal.SIGKILL)
    time.sleep(5)  # past the visibility timeout
    # another machine of the cluster: its own home, the cluster's key (job parameters and results
    # are encrypted in the shared database, so every worker is given the key, as deploy/ does)
    key = (Path(env["HAECHI_HOME"]) / "secret.key").read_text().strip()
    elsewhere = _worker(dict(env, HAECHI_HOME=str(tmp_path / "other-machine"), HAECHI_SECRET_KEY=key))
    try:
        (result,) = list(h.job_results(job, timeout=120))
    finally:
        _stop(elsewhere)
    assert result["pages"] == 4 - done, (result, done)  # the rest of the crawl, not its start again
    urls = [f"{site}/k/{n}.html" for n in range(4)]
    assert _captures(h, "KCRAWL") == {u: 1 for u in urls}  # each page captured once across both workers


def test_a_worker_without_the_clusters_key_refuses_to_start(tmp_path: Path, env: dict[str, str],
                                                            cluster: Haechi) -> None:
    """A worker on a new machine without the cluster's key made a key of its own, took a crawl
    whose parameters it could not decrypt and left it "running" for good. It now stops at once,
    saying what it cannot read and how to fix it; with the key it starts."""
    cluster.create_case(victim_ref="Choi Minji")  # an encrypted field in the shared database
    p = subprocess.run([str(Path(sys.executable).with_name("haechi")), "worker", "-c", "1"],
                       env=dict(env, HAECHI_HOME=str(tmp_path / "new-machine")), capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "cannot read the cluster's data" in p.stdout and "HAECHI_SECRET_KEY" in p.stdout
    key = (Path(env["HAECHI_HOME"]) / "secret.key").read_text().strip()
    ok = _worker(dict(env, HAECHI_HOME=str(tmp_path / "new-machine-2"), HAECHI_SECRET_KEY=key))
    try:
        time.sleep(8)
        assert ok.poll() is None  # running: it can read the cluster's data
    finally:
        _stop(ok)
