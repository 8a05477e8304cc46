"""Hashing media a caller uploads or names by URL, shared by the hashing, matching and
curation routes. The media is decoded and hashed in the server's hashing pool (the facade's
``hash_upload``/``scan_upload``/``bank_upload``: worker processes under a time limit, archives
refused), never in the thread answering the request; call these from a worker thread
(``run_in_threadpool``), not the event loop. A URL that cannot be used (scheme, private address, 4xx) is the caller's
``InputError`` (HTTP 400); a server that does not answer, times out or fails (5xx) is a
``RemoteError`` (HTTP 502: try again later)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from haechi.app import Haechi
from haechi.errors import Busy, InputError, RemoteError
from haechi.services.banks import AddResult
from haechi.sources.web import FetchLimits, check_url, fetch

#: reasons ``sources.web.fetch`` gives for a failure of the other side, not of the request
_REMOTE_REASONS = ("timed out", "fetch failed")

#: URL fetches one server process runs at once (``?url=`` of /h/hash, /m/lookup, /c/bank/NAME/content).
#: Each holds a request thread until the remote side is done or the fetch times out, and request
#: threads (anyio's 40) are shared with every other route: 90 fetches of a site that sends a byte a
#: second stalled ``/api/me`` for 16 s. Beyond this many the next is a 503 (Busy) at once.
URL_FETCHES = 8


class FetchGate:
    """At most ``slots`` URL fetches at once in this process; the next raises Busy (HTTP 503)."""

    def __init__(self, slots: int = URL_FETCHES) -> None:
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise Busy(url, f"{self.slots} URL fetches are under way in this server process: try again shortly",
                       retry_after=5)
        try:
            yield
        finally:
            self._free.release()


def signals_of(row: dict[str, Any]) -> dict[str, Any]:
    """The ``/h/hash`` answer for one analysed file (its error raised as InputError)."""
    if row.get("error"):
        raise InputError(row["path"], row["error"].split(": ", 1)[-1])
    out: dict[str, Any] = {"md5": row["md5"], "sha256": row["sha256"]}
    if row["media_type"] == "video":
        out["video_md5"] = row["md5"]
        out["vpdq"] = row.get("vpdq")
    else:
        out["pdq"] = row["pdq"]
        out["pdq_quality"] = row["pdq_quality"]
    return out


def hma_signals(sig: dict[str, Any]) -> dict[str, str]:
    """The signal types HMA knows of a file: ``pdq`` for a photo, ``video_md5`` for a video."""
    return {t: sig[t] for t in ("pdq", "video_md5") if sig.get(t)}


def fetch_media(url: str, limits: FetchLimits, gate: FetchGate) -> bytes:
    """The body at ``url``, fetched with the SSRF-safe fetcher (the URL checked first) in one of
    ``gate``'s slots (Busy when none is free)."""
    check_url(url, limits.allow_private)  # InputError: the caller's URL is refused
    try:
        with gate.slot(url):
            res = fetch(url, limits, accept="image/*,video/*")
    except InputError as exc:
        if exc.reason.startswith(_REMOTE_REASONS):
            raise RemoteError(url, exc.reason) from None
        raise
    if res.status >= 500:
        raise RemoteError(url, f"HTTP {res.status}")
    if res.status >= 400:
        raise InputError(url, f"HTTP {res.status}")
    return res.body


def hash_url(h: Haechi, url: str, limits: FetchLimits, gate: FetchGate) -> dict[str, Any]:
    return signals_of(hash_bytes(h, url, fetch_media(url, limits, gate)))


def add_bytes_to_bank(h: Haechi, bank: str, name: str, data: bytes, label: str | None) -> AddResult:
    """Bank media given as bytes: hashes (and encrypted features) stored, never the media."""
    result = h.bank_upload(bank, name, data, label)
    if result.error:
        raise InputError(name, result.error.split(": ", 1)[-1])
    return replace(result, path=name)


def hash_bytes(h: Haechi, name: str, data: bytes) -> dict[str, Any]:
    """``haechi hash --json`` of one file given as bytes (decoded in the hashing pool)."""
    return h.hash_upload(name, data)
