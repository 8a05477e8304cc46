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


@app.task(name="haechi.scan_item", bind=True, autoretry_for=(OperationalError,), retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def scan_item(self: Any, job_id: str, path: str, banks: list[str] | None, threshold: int | None) -> str:
    h = _instance()
    with h.db.session() as s:
        item = s.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == path))
        if item is None:
            return "unknown"
        if item.status in ("done", "failed"):
            return item.status  # redelivered after completion: nothing to do
        item.status, item.attempts = "running", item.attempts + 1
    delay = float(os.environ.get("HAECHI_TEST_TASK_DELAY", "0"))
    if delay:
        time.sleep(delay)  # tests use this to kill a worker mid-task
    h.refresh_index()  # bank changes made anywhere are visible to the next task
    try:
        (row,) = list(h.scan([path], banks=banks, threshold=threshold))
        status = "failed" if row.get("error") else "done"
    except Exception as exc:  # noqa: BLE001 - recorded on the item; the job goes on
        row, status = {"path": path, "error": f"{type(exc).__name__}: {exc}", "matches": []}, "failed"
    with h.db.session() as s:
        item = s.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == path))
        if item is not None and item.status not in ("done", "failed"):
            item.status, item.result = status, json.dumps(row)
    return status
