"""A bounded pool of worker processes in which a serving process decodes and hashes media it was
sent (issue #16, #21): untrusted bytes are never decoded in the process that answers requests.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one task. A worker that
overruns its time limit must be killed, and a killed worker breaks the whole executor
(``BrokenProcessPool``) and every task queued in it. Here each worker is one process on its own
pipe, so a worker that overruns (or dies: out of memory, a crash in a native decoder) is killed
and replaced alone; the next task gets a fresh one.

Bounds, each from :class:`~haechi.config.Settings`:

* ``hash_pool_workers`` processes (default: the number of cores), started on first use;
* ``hash_pool_queue`` more tasks may wait for a free worker; beyond ``workers + queue`` tasks
  :meth:`HashPool.run` raises :class:`~haechi.errors.Busy` at once (HTTP 503 + Retry-After);
* ``hash_time_limit`` seconds of wall-clock time per task, counted from when a worker takes it:
  past it the worker is killed and :class:`~haechi.errors.MediaAborted` names the input (HTTP 422).

Workers are forked from a fork server (``multiprocessing``'s ``forkserver`` context), not from
the serving process: a uvicorn process runs threads (its thread pool, OpenMP's threads once
faiss searched) and a fork copies their held locks into a child that can then hang (``_lazy``
documents one such hang). The fork server is a fresh single-threaded interpreter that imports
the hashing modules once (``PRELOAD``), so a replacement worker starts in milliseconds. The
pixel cap is :func:`haechi.media.decode.decode_image`'s, applied from the image header before
any pixel is decoded.

A task is ``fn(arg)`` with a picklable module-level ``fn`` (``functools.partial`` of one is
fine): the same functions ``scan`` and ``bank add`` run in their pools
(:func:`haechi.services.analyse.analyse`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from haechi.errors import Busy, MediaAborted

A = TypeVar("A")
R = TypeVar("R")

#: imported by the fork server before it forks workers (so each worker starts warm)
PRELOAD = ["haechi.services.analyse", "haechi.media.decode", "haechi.media.video", "haechi.signals.pdq",
           "haechi.signals.local", "numpy", "PIL.Image"]


def _serve(conn: Connection) -> None:
    """Worker process: run ``fn(arg)`` for each task received; answer ``("ok", result)`` or
    ``("error", exception)`` (its type name and text when it cannot be pickled)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    from haechi._lazy import cv2

    cv2.load()  # ORB (local features) uses OpenCV: loaded single-threaded, before any task
    conn.send(("ready", None))  # start-up is not counted against the first task's time limit
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, arg = task
        try:
            answer: tuple[str, Any] = ("ok", fn(arg))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, the worker lives on
            answer = ("error", exc)
        try:
            conn.send(answer)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


#: seconds a new worker may take to start (the fork server's first start imports numpy, Pillow,
#: OpenCV: seconds on a loaded machine)
START_TIMEOUT = 120.0


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), daemon=True, name="haechi-hash")
        self.process.start()
        child.close()
        self.pidfd: int | None = None
        try:
            if not self.conn.poll(START_TIMEOUT) or self.conn.recv()[0] != "ready":
                raise OSError("no answer")
        except (OSError, EOFError) as exc:
            self.kill()
            raise RuntimeError(f"a hashing worker did not start: {exc}") from None
        if hasattr(os, "pidfd_open") and self.process.pid is not None:
            with contextlib.suppress(OSError):  # alive (it answered): the descriptor is this process's
                self.pidfd = os.pidfd_open(self.process.pid)

    def kill(self) -> None:
        """SIGKILL the worker. By its pidfd where there is one, not after asking ``is_alive()``:
        that asks the fork server, and once the fork server has died every worker looks dead — an
        overrunning worker was then "retired" without a signal and decoded on beside its
        replacement. A pidfd names this process even after its pid is reused."""
        if self.pidfd is not None:
            with contextlib.suppress(ProcessLookupError):  # it has exited
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.close(self.pidfd)
            self.pidfd = None
        elif self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(1)
        self.kill()


class _Waiter:
    """A task waiting for a worker. Workers are handed to waiters in arrival order: a worker
    given back goes to the longest waiting task, never to whichever thread wins the lock next
    (with a shared queue and timed gets, some uploads waited 5× the median: p99 1.4 s against a
    median of 0.24 s with one worker and eight clients)."""

    __slots__ = ("event", "worker", "grow", "closed")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.worker: _Worker | None = None
        self.grow = False  # may start a worker in a freed slot
        self.closed = False


class HashPool:
    """``workers`` processes, ``queue`` waiting tasks at most, ``time_limit`` seconds per task.

    Thread-safe: a server calls :meth:`run` from its request threads. ``workers`` 0 runs every
    task in the calling thread (no processes, no time limit, no queue bound: the setting that
    turns the pool off, for benchmarks and single-user tools)."""

    def __init__(self, workers: int, queue_size: int, time_limit: float) -> None:
        self.workers, self.queue_size, self.time_limit = max(0, workers), max(0, queue_size), time_limit
        self._admit = threading.BoundedSemaphore(self.workers + self.queue_size) if self.workers else None
        self._idle: list[_Worker] = []
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()
        self._started = 0  # worker slots handed out (alive or being replaced)
        self._all: set[_Worker] = set()
        self._closed = False
        self._ctx: Any = None
        #: tasks stopped at the time limit, workers replaced after dying (for status and tests)
        self.overruns = 0
        self.replaced = 0

    # -- running a task -------------------------------------------------------------------------
    def run(self, fn: Callable[[A], R], arg: A, source: str) -> R:
        """``fn(arg)`` in a worker process; ``source`` names the input in errors.

        Raises :class:`Busy` (``workers + queue`` tasks already in the pool: try later),
        :class:`MediaAborted` (over the time limit, or the worker died: killed and replaced), or
        re-raises what ``fn`` raised."""
        if self._admit is None:
            return fn(arg)
        if not self._admit.acquire(blocking=False):
            raise Busy(source, f"all {self.workers} hashing workers are busy and {self.queue_size} uploads are "
                               "waiting: try again shortly", retry_after=max(1, round(self.time_limit / 4)))
        try:
            worker = self._take()
            try:
                return self._run_on(worker, fn, arg, source)
            finally:
                self._give_back(worker)
        finally:
            self._admit.release()

    def _run_on(self, worker: _Worker, fn: Callable[[A], R], arg: A, source: str) -> R:
        started = time.monotonic()
        try:
            worker.conn.send((fn, arg))
            ready = worker.conn.poll(self.time_limit)
            if ready:
                status, value = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            ready, status, value = True, "died", None
        if not ready:
            self.overruns += 1
            self._retire(worker)
            raise MediaAborted(source, f"decoding and hashing took longer than {self.time_limit:g} s: stopped "
                                       "(a very large or deliberately slow file)")
        if status == "died":
            worker.process.join(5)
            code = worker.process.exitcode
            self._retire(worker)
            how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            raise MediaAborted(source, f"the hashing process ended ({how}) after {time.monotonic() - started:.1f} s "
                                       "while decoding this file (out of memory, or a crash in a decoder)")
        if status == "error":
            raise value
        return value

    # -- workers --------------------------------------------------------------------------------
    def _take(self) -> _Worker:
        """An idle worker, a new one while fewer than ``workers`` are alive, else the next worker
        given back — first come, first served (see :class:`_Waiter`)."""
        while True:
            waiter = None
            with self._lock:
                if self._closed:
                    raise Busy("hash pool", "the server is shutting down", retry_after=5)
                if self._idle:
                    worker: _Worker | None = self._idle.pop()
                    grow = False
                elif self._started < self.workers:
                    self._started += 1
                    worker, grow = None, True
                else:
                    waiter = _Waiter()
                    self._waiters.append(waiter)
                    worker, grow = None, False
            if waiter is not None:
                waiter.event.wait()
                if waiter.closed:
                    raise Busy("hash pool", "the server is shutting down", retry_after=5)
                worker, grow = waiter.worker, waiter.grow
            if grow:
                try:
                    return self._spawn()
                except BaseException as exc:
                    self._free_slot()
                    if isinstance(exc, (OSError, EOFError, RuntimeError)):  # the fork server died, or the worker
                        raise Busy("hash pool", f"a hashing worker could not be started ({type(exc).__name__}: "
                                                f"{exc}): try again shortly", retry_after=5) from None
                    raise
            assert worker is not None
            if worker.process.is_alive():
                return worker
            self._retire(worker)  # died between tasks: its slot is free, loop to refill it

    def _free_slot(self) -> None:
        """A worker slot became free (a worker retired, or starting one failed): the longest
        waiting task may start a worker in it."""
        with self._lock:
            self._started -= 1
            if self._waiters and not self._closed:
                self._started += 1
                waiter = self._waiters.popleft()
                waiter.grow = True
                waiter.event.set()

    def _spawn(self) -> _Worker:
        if self._ctx is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            self._ctx = ctx
        worker = _Worker(self._ctx)
        with self._lock:
            self._all.add(worker)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        """``worker`` to the longest waiting task, else to the idle list."""
        with self._lock:
            if worker not in self._all:  # retired: its slot is free for a new one
                return
            if not self._closed:
                if self._waiters:
                    waiter = self._waiters.popleft()
                    waiter.worker = worker
                    waiter.event.set()
                else:
                    self._idle.append(worker)
                return
            self._all.discard(worker)
        worker.stop()

    def _retire(self, worker: _Worker) -> None:
        """Kill ``worker`` and free its slot (the longest waiting task starts a replacement)."""
        worker.kill()
        with self._lock:
            if worker not in self._all:
                return
            self._all.discard(worker)
            self.replaced += 1
        self._free_slot()

    # -- life cycle -----------------------------------------------------------------------------
    def pids(self) -> list[int]:
        """Process ids of the live workers (for status and tests)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None and w.process.is_alive()]

    def close(self) -> None:
        """Stop every worker (idle ones at once, busy ones when their task ends)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            waiters, self._waiters = list(self._waiters), deque()
            self._all.difference_update(idle)
        for waiter in waiters:
            waiter.closed = True
            waiter.event.set()
        for worker in idle:
            worker.stop()

