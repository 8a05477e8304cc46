"""Ordered, bounded parallel map over a process pool.

Bounded: at most ``window`` items are in flight, so a stream of a million files keeps memory
flat (``multiprocessing.Pool.imap`` would read the whole input iterator ahead).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in input order, using ``workers`` processes."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    window = window or workers * 8
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
