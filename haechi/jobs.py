"""Distributed jobs: the Celery app, job and job-item rows, enqueueing, status and results.

Below ``workers/``, which keeps only the task bodies: the facade and the doors enqueue through
this module without importing the worker (and its task bodies import the facade, a door).

Why these Celery settings: ``acks_late`` + ``reject_on_worker_lost`` mean a message is
acknowledged only after its task finished, so a worker killed mid-task (SIGKILL, OOM, power)
leaves the message to be delivered again (RabbitMQ: at once; Redis: after
``Settings.visibility_timeout``). Tasks are idempotent: each item is keyed by (job, key) with a
unique constraint, and an item already ``done`` is skipped, so redelivery never duplicates work
or results. ``prefetch_multiplier=1`` keeps one task per worker process in flight.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from haechi.errors import InputError, NotFound, RemoteError
from haechi.sources import iter_media
from haechi.store.models import Job, JobItem

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.orm import Session

    from haechi.config import Settings
    from haechi.runtime import Runtime

#: every job kind a worker runs (``workers.tasks.JOB_KINDS`` holds their bodies; a test checks
#: the two agree)
KINDS = ("scan", "capture", "recheck", "crawl", "watch")
#: the broker when none is configured
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
#: the one task every job item runs (its kind is in the job row)
RUN_ITEM = "haechi.run_item"


def make_app(settings: Settings, broker_url: str | None = None) -> Celery:
    """The Celery app for ``settings`` (broker, queue, visibility timeout)."""
    from celery import Celery

    app = Celery("haechi", broker=broker_url or settings.broker_url or DEFAULT_BROKER)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        worker_hijack_root_logger=False,
    )
    return app


def claim_item(session: Session, job_id: str, key: str) -> tuple[str, dict[str, Any]] | None:
    """Mark a job item running (a worker took it): its job's kind and params, or None when the
    item is unknown or already finished (a redelivered message: nothing to do)."""
    item = session.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == key))
    job = session.get(Job, job_id)
    if item is None or job is None or item.status in ("done", "failed"):
        return None
    item.status, item.attempts = "running", item.attempts + 1
    return job.kind, json.loads(job.params)


def finish_item(session: Session, job_id: str, key: str, status: str, row: dict[str, Any]) -> None:
    """Record a job item's outcome (``done``/``failed`` and its result row) in ``session``'s
    transaction — together with the work it describes; a finished item is never overwritten."""
    item = session.scalar(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == key))
    if item is not None and item.status not in ("done", "failed"):
        item.status, item.result = status, json.dumps(row, default=str)


def scan_distributed(rt: Runtime, paths: Iterable[str | os.PathLike[str]], banks: list[str] | None = None,
                     threshold: int | None = None, broker_url: str | None = None) -> str:
    """Enqueue one task per file (``haechi worker`` runs them); returns the job id.

    Files must be on storage every worker sees (the same path). Archive members and
    unreadable paths are recorded as failed items at once."""
    celery = make_app(rt.settings, broker_url)
    job_id = uuid.uuid4().hex
    items: list[tuple[str, str | None]] = []
    for ref in iter_media(paths, rt.limits()):
        if ref.file is not None:
            items.append((str(Path(ref.file).resolve()), None))
        else:
            items.append((ref.path, ref.error or "archive members are scanned in-process only (not distributed)"))
    with rt.db.session() as s:
        s.add(Job(id=job_id, kind="scan", params=json.dumps({"banks": banks, "threshold": threshold}),
                  total=len(items)))
        s.flush()
        for key, error in items:
            s.add(JobItem(job_id=job_id, key=key, status="failed" if error else "queued",
                          result=json.dumps({"path": key, "error": error, "matches": []}) if error else None))
    for key, error in items:
        if error is None:
            celery.send_task(RUN_ITEM, args=[job_id, key])
    return job_id


def enqueue(rt: Runtime, kind: str, keys: Iterable[str], params: dict[str, Any] | None = None,
            broker_url: str | None = None) -> str:
    """A job of ``kind`` (see :data:`KINDS`) with one item per key, one task each; returns the
    job id. Items are keyed (URL, item id, watch id), so a redelivered task finds its item done
    and does nothing. Raises InputError (unknown kind)."""
    if kind not in KINDS:
        raise InputError(kind, f"job kind must be one of {', '.join(sorted(KINDS))}")
    celery = make_app(rt.settings, broker_url)
    job_id = uuid.uuid4().hex
    unique = list(dict.fromkeys(keys))
    with rt.db.session() as s:
        s.add(Job(id=job_id, kind=kind, params=json.dumps(params or {}), total=len(unique)))
        s.flush()
        for key in unique:
            s.add(JobItem(job_id=job_id, key=key, status="queued"))
    for key in unique:
        celery.send_task(RUN_ITEM, args=[job_id, key])
    return job_id


def job_status(rt: Runtime, job_id: str) -> dict[str, Any]:
    """``{job, kind, total, created_at, queued, running, done, failed, finished}``. Raises NotFound."""
    with rt.db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound("job", job_id)
        counts = dict(s.execute(select(JobItem.status, func.count()).where(JobItem.job_id == job_id)
                                .group_by(JobItem.status)).all())
        return {"job": job.id, "kind": job.kind, "total": job.total, "created_at": job.created_at.isoformat(),
                **{k: int(counts.get(k, 0)) for k in ("queued", "running", "done", "failed")},
                "finished": int(counts.get("done", 0)) + int(counts.get("failed", 0)) >= job.total}


def list_jobs(rt: Runtime, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs' :func:`job_status`."""
    with rt.db.session() as s:
        ids = list(s.scalars(select(Job.id).order_by(Job.created_at.desc()).limit(limit)))
    return [job_status(rt, i) for i in ids]


def job_results(rt: Runtime, job_id: str, timeout: float | None = None, poll: float = 0.3
                ) -> Iterator[dict[str, Any]]:
    """Yield each item's result row as it finishes, until all are done. Raises NotFound (job),
    RemoteError (not finished after ``timeout`` seconds: the workers are slow or down)."""
    seen: set[int] = set()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        # status first, then rows: an item finishing between the two reads is still yielded
        status = job_status(rt, job_id)
        with rt.db.session() as s:
            rows = s.execute(select(JobItem.id, JobItem.result).where(
                JobItem.job_id == job_id, JobItem.status.in_(["done", "failed"]))).all()
        for item_id, result in rows:
            if item_id not in seen:
                seen.add(item_id)
                yield json.loads(result) if result else {"error": "no result recorded"}
        if status["finished"]:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteError(job_id, f"job not finished after {timeout}s: {status}")
        time.sleep(poll)
