"""OpenCV and faiss, imported on first use and configured before it.

Why: importing them costs ~0.12 s together (``python -X importtime``), and ``haechi --help``,
``haechi hash`` or a bank listing never calls them (issue #22: start-up). Why configured here:
scans fork one worker process per core, and a thread pool that OpenCV or faiss (libgomp) started
in the parent deadlocks forked children (seen: a pooled scan after an in-process one hung on a
futex). So both run single-threaded everywhere, which every Haechi module gets by using these
proxies instead of ``import cv2`` / ``import faiss``: the setting is applied before the module is
first used, whoever uses it first.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any


class LazyModule:
    """A module imported at the first attribute access, then ``setup(module)`` run once."""

    def __init__(self, name: str, setup: Callable[[ModuleType], None] | None = None) -> None:
        self._name = name
        self._setup = setup
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def load(self) -> ModuleType:
        module = self._module
        if module is None:
            with self._lock:
                if self._module is None:
                    loaded = importlib.import_module(self._name)
                    if self._setup is not None:
                        self._setup(loaded)
                    self._module = loaded
                module = self._module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (loaded)' if self._module is not None else ''}>"


def _single_threaded_cv2(module: ModuleType) -> None:
    module.setNumThreads(1)


def _single_threaded_faiss(module: ModuleType) -> None:
    module.omp_set_num_threads(1)


def single_threaded_here() -> None:
    """OpenMP's thread count is a per-thread setting: faiss loaded (and set to 1) in one thread —
    a web request's worker thread, say — leaves the default in the others, and a search from one of
    them starts a thread pool that deadlocks the next forked worker (seen: a scan after an API
    request hung in ``IndexBinaryFlat.search``). Searches call this first; it costs a function call."""
    faiss.omp_set_num_threads(1)


cv2: Any = LazyModule("cv2", _single_threaded_cv2)
faiss: Any = LazyModule("faiss", _single_threaded_faiss)


def preload() -> None:
    """Load (and configure) OpenCV and faiss in this process now — before a pool forks workers
    that will use them. A first import inside a forked child, after the parent started OpenMP
    threads (faiss), can hang in ``setNumThreads`` (seen: the wheel check's demo hung there)."""
    cv2.load()
    faiss.load()
