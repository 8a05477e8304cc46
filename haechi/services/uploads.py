"""Media a server was sent — an upload, or a URL it fetched for the caller — hashed, scanned or
banked: the same analysis, matcher and bank writes as ``hash``, ``scan`` and ``bank add``, run
in the server's hashing pool (:mod:`haechi.services.hashpool`: worker processes, a queue bound,
a time limit per file, the pixel cap) instead of the process that answers requests.

One file per request: an archive (ZIP, tar, gzip, ...) is refused with an InputError naming it
before a byte of it is opened — the CLI opens archives within the archive limits
(``haechi.sources.files``), a request thread never does (a tar of 20,000 empty members took the
request's whole time to walk).

Errors: InputError (an archive; media that cannot be decoded — ``MediaError``), MediaAborted
(over ``hash_time_limit`` or its worker died: the worker is replaced), Busy (the pool and its
queue are full: HTTP 503), NotFound (a named bank).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from haechi.errors import InputError
from haechi.media.formats import archive_format
from haechi.services import banks as bank_service
from haechi.services import scan
from haechi.services.analyse import MediaRecord, analyse
from haechi.sources import MediaRef

if TYPE_CHECKING:
    from haechi.runtime import Runtime


def check_one_file(name: str, data: bytes) -> None:
    """Refuse an archive (InputError naming ``name`` and the format)."""
    kind = archive_format(data[:512])
    if kind is not None:
        raise InputError(name, f"is a {kind} archive: send one image or video per request (archives are "
                               "opened by `haechi hash`, `scan` and `bank add`, within the archive limits)")


def _in_pool(rt: Runtime) -> Callable[[Callable[[MediaRef], MediaRecord], MediaRef], MediaRecord]:
    pool = rt.hash_pool()
    return lambda fn, ref: pool.run(fn, ref, ref.path)


def hash_upload(rt: Runtime, name: str, data: bytes) -> dict[str, Any]:
    """The ``haechi hash --json`` object of one file given as bytes (its ``error`` set when the
    file cannot be decoded). Raises InputError (archive), MediaAborted, Busy."""
    check_one_file(name, data)
    ref = MediaRef(path=name, data=data)
    return _in_pool(rt)(partial(analyse, opts=rt.analyse_options()), ref).public()


def scan_upload(rt: Runtime, name: str, data: bytes, banks: list[str] | None = None) -> dict[str, Any]:
    """``scan`` of one file given as bytes: the ``hash`` fields plus ``matches``. Raises
    InputError (archive), MediaAborted, Busy, NotFound (bank)."""
    check_one_file(name, data)
    return scan.scan_analysed(rt, MediaRef(path=name, data=data), _in_pool(rt), banks)


def bank_upload(rt: Runtime, bank: str, name: str, data: bytes, label: str | None = None
                ) -> bank_service.AddResult:
    """``bank add`` of one file given as bytes (hashes and encrypted features stored, never the
    media); the result's ``error`` says why it was not added. Raises InputError (archive),
    MediaAborted, Busy, NotFound (bank)."""
    check_one_file(name, data)
    with rt.db.session() as s:
        bank_service.get_bank(s, bank)  # NotFound before any decoding
    record = _in_pool(rt)(partial(analyse, opts=bank_service.media_options(rt)), MediaRef(path=name, data=data))
    return bank_service.add_record(rt, bank, record, label)
