"""Tasks for the hashing-pool tests, in a module with no heavy imports: a worker unpickling a
task imports its module, and that import would count against the task's time limit."""

from __future__ import annotations

import os
import time

from haechi.errors import InputError


def nap(seconds: float) -> int:
    """Take ``seconds``; answer the worker's pid."""
    time.sleep(seconds)
    return os.getpid()


def fail(reason: str) -> None:
    raise InputError("member.jpg", reason)
