"""Celery task bodies (a door: each turns a job item into one facade call).

The app, job rows, enqueueing and results live in :mod:`haechi.jobs` (why the Celery settings
are what they are is written there). Configuration comes from the environment through
:func:`haechi.config.resolve_settings`, as for every door: ``HAECHI_BROKER_URL``,
``HAECHI_DATABASE_URL``, ``HAECHI_HOME``, ``HAECHI_QUEUE`` (default ``haechi``),
``HAECHI_VISIBILITY_TIMEOUT`` (seconds, Redis only; default 3600), ``HAECHI_RECHECK_EVERY``,
``HAECHI_WATCH_POLL_EVERY`` (beat periods, seconds).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.exc import OperationalError

from haechi.config import resolve_settings
from haechi.jobs import finish_item, make_app

SETTINGS = resolve_settings(workers=1)
QUEUE = SETTINGS.queue
app = make_app(SETTINGS)
_haechi: Any = None


def _instance() -> Any:
    """One Haechi per worker process (created after fork), index kept warm between tasks."""
    global _haechi
    if _haechi is None:
        from haechi.app import Haechi

        _haechi = Haechi(settings=SETTINGS)
    return _haechi


def _claim(h: Any, job_id: str, key: str) -> tuple[str, dict[str, Any]] | None:
    """Mark the item running; None when it is unknown or already finished (a redelivery)."""
    return h.claim_job_item(job_id, key)


def _scan(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    # a file that cannot be scanned is a failed item with the scan row's shape, as `scan` prints it
    try:
        (row,) = list(h.scan([key], banks=params.get("banks"), threshold=params.get("threshold")))
        status = "failed" if row.get("error") else "done"
    except Exception as exc:  # noqa: BLE001 - recorded on the item; the job goes on
        row, status = {"path": key, "error": f"{type(exc).__name__}: {exc}", "matches": []}, "failed"
    h.finish_job_item(job_id, key, status, row)


def _capture(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    # the capture, its custody entry and "done" commit in one transaction: a worker killed before
    # the commit leaves no capture and a redelivered task; killed after it, the redelivery skips
    list(h.capture([key], case_ref=params.get("case"), actor=params.get("actor", "worker"),
                   screenshot=bool(params.get("screenshot", False)), allow_private=bool(params.get("allow_private")),
                   on_record=lambda s, row: finish_item(s, job_id, key, "failed" if row["error"] else "done", row)))


def _recheck(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    rows = list(h.recheck(item_ids=[int(key)], allow_private=bool(params.get("allow_private")),
                          actor=params.get("actor", "worker"),
                          on_record=lambda s, row: finish_item(s, job_id, key, "done", row)))
    if not rows:  # no longer notified/still up (or not a web item): nothing to re-check
        h.finish_job_item(job_id, key, "done", {"item": int(key), "status": "skipped"})


def _crawl(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    # a crawl keeps its own resumable state (keyed by the job), so a redelivery continues it
    rows = list(h.crawl(key, depth=int(params.get("depth", 1)), same_site=bool(params.get("same_site", True)),
                        max_pages=int(params.get("max_pages", 50)), rate=float(params.get("rate", 1.0)),
                        case_ref=params.get("case"), actor=params.get("actor", "worker"),
                        screenshot=bool(params.get("screenshot", False)),
                        allow_private=bool(params.get("allow_private")), crawl_id=f"job-{job_id[:16]}"))
    h.finish_job_item(job_id, key, "done", {"root": key, "pages": len(rows),
                                            "captures": [r.get("capture_id") for r in rows]})


def _watch(h: Any, job_id: str, key: str, params: dict[str, Any]) -> None:
    results = h.run_watches(watch_ids=[int(key)], actor=params.get("actor", "watch"),
                            allow_private=bool(params.get("allow_private")))
    h.finish_job_item(job_id, key, "done", results[0] if results else {"watch": int(key), "status": "not_due"})


#: the body of each job kind (``haechi.jobs.KINDS`` names them): kind -> handler(h, job_id, key, params)
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
    delay = h.settings.test_task_delay
    if delay:
        time.sleep(delay)
    h.refresh_index()
    try:
        JOB_KINDS[kind](h, job_id, key, params)
    except OperationalError:
        raise  # database trouble: retried with backoff
    except Exception as exc:  # noqa: BLE001 - recorded on the item; the job goes on
        h.finish_job_item(job_id, key, "failed", {"key": key, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    after = h.settings.test_task_delay_after
    if after:
        time.sleep(after)  # tests kill the worker here: committed, not yet acknowledged
    return "ran"


# -- Celery beat: scheduled re-checks and watches ------------------------------------------------
#: seconds between scheduled re-checks of notified items, and between looks for due watches
RECHECK_EVERY = SETTINGS.recheck_every
WATCH_POLL_EVERY = SETTINGS.watch_poll_every

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
    allow = h.settings.allow_private_urls
    return str(h.enqueue("recheck", [str(t[0]) for t in targets], {"actor": "beat", "allow_private": allow}))


@app.task(name="haechi.schedule_watches")
def schedule_watches() -> str | None:
    """Beat: one watch job over the watches that are due (None when none are)."""
    h = _instance()
    ids = h.due_watch_ids()
    if not ids:
        return None
    allow = h.settings.allow_private_urls
    return str(h.enqueue("watch", [str(i) for i in ids], {"actor": "beat", "allow_private": allow}))
