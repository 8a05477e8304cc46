"""Hashing media a caller uploads or names by URL, shared by the hashing, matching and
curation routes. The media is decoded and hashed in the server's hashing pool (the facade's
``hash_upload``/``scan_upload``/``bank_upload``: worker processes under a time limit, archives
refused), never in the thread answering the request; call these from a worker thread
(``run_in_threadpool``), not the event loop. A URL that cannot be used (scheme, private address, 4xx) is the caller's
``InputError`` (HTTP 400); a server that does not answer, times out or fails (5xx) is a
``RemoteError`` (HTTP 502: try again later)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from haechi.app import Haechi
from haechi.errors import InputError, RemoteError
from haechi.services.banks import AddResult
from haechi.sources.web import FetchLimits, check_url, fetch

#: reasons ``sources.web.fetch`` gives for a failure of the other side, not of the request
_REMOTE_REASONS = ("timed out", "fetch failed")


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


def fetch_media(url: str, limits: FetchLimits) -> bytes:
    """The body at ``url``, fetched with the SSRF-safe fetcher (the URL checked first)."""
    check_url(url, limits.allow_private)  # InputError: the caller's URL is refused
    try:
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


def hash_url(h: Haechi, url: str, limits: FetchLimits) -> dict[str, Any]:
    return signals_of(hash_bytes(h, url, fetch_media(url, limits)))


def add_bytes_to_bank(h: Haechi, bank: str, name: str, data: bytes, label: str | None) -> AddResult:
    """Bank media given as bytes: hashes (and encrypted features) stored, never the media."""
    result = h.bank_upload(bank, name, data, label)
    if result.error:
        raise InputError(name, result.error.split(": ", 1)[-1])
    return replace(result, path=name)


def hash_bytes(h: Haechi, name: str, data: bytes) -> dict[str, Any]:
    """``haechi hash --json`` of one file given as bytes (decoded in the hashing pool)."""
    return h.hash_upload(name, data)
