"""Celery app and tasks.

Why these settings: ``acks_late`` + ``reject_on_worker_lost`` mean a message is acknowledged only
after its task finished, so a worker killed mid-task (SIGKILL, OOM, power) leaves the message to
be delivered again (RabbitMQ: at once; Redis: after ``visibility_timeout``). Tasks are
idempotent: each item is keyed by (job, file) with a unique constraint, and an item already
``done`` is skipped, so redelivery never duplicates work or results. ``prefetch_multiplier=1``
keeps one task per worker process in flight. Retries back off exponentially on database or
broker trouble.

Configuration comes from the environment, as for every door: ``HAECHI_BROKER_URL``,
``HAECHI_DATABASE_URL``, ``HAECHI_HOME``, ``HAECHI_QUEUE`` (default ``haechi``),
``HAECHI_VISIBILITY_TIMEOUT`` (seconds, Redis only; default 3600).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import Celery
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from haechi.store.models import JobItem

QUEUE = os.environ.get("HAECHI_QUEUE", "haechi")


def make_app(broker_url: str | None = None) -> Celery:
    broker = broker_url or os.environ.get("HAECHI_BROKER_URL") or "redis://127.0.0.1:6379/0"
    app = Celery("haechi", broker=broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": int(os.environ.get("HAECHI_VISIBILITY_TIMEOUT", "3600"))},
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()
_haechi: Any = None


def _instance() -> Any:
    """One Haechi per worker process (created after fork), index kept warm between tasks."""
    global _haechi
    if _haechi is None:
        from haechi.app import Haechi

        _haechi = Haechi(workers=1)
    return _haechi


def _claim(h: Any, job_id: str, key: str) -> tuple[str, dict[str, Any]] | None:
    """Mark the item running; None when it is unknown or already finished (a redelivery)."""
    from haechi.store.models import Job

    with h.db.session() as s:
        item = s.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == key))
        job = s.get(Job, job_id)
        if item is None or job is None or item.status in ("done", "failed"):
            return None
        item.status, item.attempts = "running", item.attempts + 1
        return job.kind, json.loads(job.params)


def _finish(session: Any, job_id: str, key: str, status: str, row: dict[str, Any]) -> None:
    item = session.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == key))
    if item is not None and item.status not in ("done", "failed"):
        item.status, item.result = status, json.dumps(row, default=str)


def _scan(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    # a file that cannot be scanned is a failed item with the scan row's shape, as `scan` prints it
    try:
        (row,) = list(h.scan([key], banks=params.get("banks"), threshold=params.get("threshold")))
        status = "failed" if row.get("error") else "done"
    except Exception as exc:  # noqa: BLE001 - recorded on the item; the job goes on
        row, status = {"path": key, "error": f"{type(exc).__name__}: {exc}", "matches": []}, "failed"
    with h.db.session() as s:
        _finish(s, job_id, key, status, row)


def _capture(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    # the capture, its custody entry and "done" commit in one transaction: a worker killed before
    # the commit leaves no capture and a redelivered task; killed after it, the redelivery skips
    list(h.capture([key], case_ref=params.get("case"), actor=params.get("actor", "worker"),
                   screenshot=bool(params.get("screenshot", False)), allow_private=bool(params.get("allow_private")),
                   on_record=lambda s, row: _finish(s, job_id, key, "failed" if row["error"] else "done", row)))


def _recheck(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    rows = list(h.recheck(item_ids=[int(key)], allow_private=bool(params.get("allow_private")),
                          actor=params.get("actor", "worker"),
                          on_record=lambda s, row: _finish(s, job_id, key, "done", row)))
    if not rows:  # no longer notified/still up (or not a web item): nothing to re-check
        with h.db.session() as s:
            _finish(s, job_id, key, "done", {"item": int(key), "status": "skipped"})


def _crawl(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    # a crawl keeps its own resumable state (keyed by the job), so a redelivery continues it
    rows = list(h.crawl(key, depth=int(params.get("depth", 1)), same_site=bool(params.get("same_site", True)),
                        max_pages=int(params.get("max_pages", 50)), rate=float(params.get("rate", 1.0)),
                        case_ref=params.get("case"), actor=params.get("actor", "worker"),
                        screenshot=bool(params.get("screenshot", False)),
                        allow_private=bool(params.get("allow_private")), crawl_id=f"job-{job_id[:16]}"))
    with h.db.session() as s:
        _finish(s, job_id, key, "done", {"root": key, "pages": len(rows),
                                        "captures": [r.get("capture_id") for r in rows]})


def _watch(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    from haechi.cases.watch import run_due

    results = run_due(h, watch_ids=[int(key)], actor=params.get("actor", "watch"),
                      allow_private=bool(params.get("allow_private")))
    with h.db.session() as s:
        _finish(s, job_id, key, "done", results[0] if results else {"watch": int(key), "status": "not_due"})


#: the one place a distributed job kind is registered: kind -> handler(h, job_id, key, params)
JOB_KINDS = {"scan": _scan, "capture": _capture, "recheck": _recheck, "crawl": _crawl, "watch": _watch}


@app.task(name="haechi.run_item", bind=True, autoretry_for=(OperationalError,), retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def run_item(self: Any, job_id: str, key: str) -> str:
    return _run(job_id, key)


@app.task(name="haechi.scan_item", bind=True, autoretry_for=(OperationalError,), retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def scan_item(self: Any, job_id: str, path: str, banks: list[str] | None = None, threshold: int | None = None
              ) -> str:
    """Scan jobs enqueued by earlier versions; the banks and threshold are in the job's params."""
    return _run(job_id, path)


def _run(job_id: str, key: str) -> str:
    """Claim the item, run its job kind's handler, record the outcome (handlers commit "done"
    together with their own writes); database trouble is raised, so Celery retries with backoff."""
    h = _instance()
    claimed = _claim(h, job_id, key)
    if claimed is None:
        return "skipped"
    kind, params = claimed
    delay = float(os.environ.get("HAECHI_TEST_TASK_DELAY", "0"))
    if delay:
        time.sleep(delay)
    h.refresh_index()
    try:
        JOB_KINDS[kind](h, job_id, key, params)
    except OperationalError:
        raise  # database trouble: retried with backoff
    except Exception as exc:  # noqa: BLE001 - recorded on the item; the job goes on
        with h.db.session() as s:
            _finish(s, job_id, key, "failed", {"key": key, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    after = float(os.environ.get("HAECHI_TEST_TASK_DELAY_AFTER", "0"))
    if after:
        time.sleep(after)  # tests kill the worker here: committed, not yet acknowledged
    return "ran"


# -- Celery beat: scheduled re-checks and watches ------------------------------------------------
#: seconds between scheduled re-checks of notified items, and between looks for due watches
RECHECK_EVERY = float(os.environ.get("HAECHI_RECHECK_EVERY", str(6 * 3600)))
WATCH_POLL_EVERY = float(os.environ.get("HAECHI_WATCH_POLL_EVERY", "300"))

app.conf.beat_schedule = {
    "recheck-notified-items": {"task": "haechi.schedule_rechecks", "schedule": RECHECK_EVERY},
    "run-due-watches": {"task": "haechi.schedule_watches", "schedule": WATCH_POLL_EVERY},
}


@app.task(name="haechi.schedule_rechecks")
def schedule_rechecks() -> str | None:
    """Beat: one recheck job over every notified / still-up web item (None when there are none)."""
    h = _instance()
    targets = h.recheck_targets()
    if not targets:
        return None
    allow = os.environ.get("HAECHI_ALLOW_PRIVATE_URLS", "") == "1"
    return str(h.enqueue("recheck", [str(t[0]) for t in targets], {"actor": "beat", "allow_private": allow}))


@app.task(name="haechi.schedule_watches")
def schedule_watches() -> str | None:
    """Beat: one watch job over the watches that are due (None when none are)."""
    from haechi.cases.watch import due_watch_ids

    h = _instance()
    ids = due_watch_ids(h)
    if not ids:
        return None
    allow = os.environ.get("HAECHI_ALLOW_PRIVATE_URLS", "") == "1"
    return str(h.enqueue("watch", [str(i) for i in ids], {"actor": "beat", "allow_private": allow}))
