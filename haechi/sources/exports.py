"""Sources that are archives of someone else's collection: Telegram Desktop exports, WARC/WACZ.

Each yields media as :class:`MediaRef` with the context a caseworker needs (chat, message id,
date, sender; or the archived URL and capture date), plus the links found, which become
capture candidates. Paths inside an export are confined to the export folder.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from haechi.errors import InputError
from haechi.sources import MediaRef

_MEDIA_TYPES = ("image/", "video/")


@dataclass
class ExportItem:
    ref: MediaRef
    context: dict[str, Any]


@dataclass
class ExportScan:
    items: list[ExportItem] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: what the source held, by count and reason: nothing is dropped in silence
    summary: dict[str, Any] = field(default_factory=dict)


def telegram(export_dir: Path, max_file_bytes: int) -> ExportScan:
    """Read a Telegram Desktop export, JSON (``result.json``) or HTML (``messages*.html``), one
    chat or a whole account: one item per message with media (see :mod:`haechi.sources.telegram`)."""
    from haechi.sources.telegram import read_export

    found = read_export(export_dir)  # sizes: checked by the hasher (videos are streamed)
    return ExportScan(items=[ExportItem(m.ref, m.context) for m in found.items], links=found.links,
                      errors=found.errors, summary=found.summary())


def _warc_streams(path: Path) -> Iterator[tuple[str, BinaryIO]]:
    if zipfile.is_zipfile(path):  # WACZ: a zip with archive/*.warc(.gz)
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.startswith("archive/") and info.filename.endswith((".warc", ".warc.gz")):
                    with zf.open(info) as fh:
                        yield f"{path}!{info.filename}", fh  # type: ignore[misc]
        return
    with path.open("rb") as fh:
        yield str(path), fh


def warc(path: Path, max_file_bytes: int) -> ExportScan:
    """Media responses and resources archived in a WARC or WACZ file."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    from haechi.sources.html_media import extract

    if not path.is_file():
        raise InputError(str(path), "no such file")
    out = ExportScan()
    records = 0
    try:
        for name, stream in _warc_streams(path):
            for record in ArchiveIterator(stream):
                if record.rec_type is None:
                    raise ValueError(f"record {records + 1} has no WARC-Type header (malformed record)")
                records += 1
                if record.rec_type not in ("response", "resource"):
                    continue
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                ctype = ""
                if record.http_headers is not None:
                    ctype = (record.http_headers.get_header("Content-Type") or "").lower()
                    status = record.http_headers.get_statuscode()
                    if status and not status.startswith("2"):
                        continue
                else:
                    ctype = (record.rec_headers.get_header("Content-Type") or "").lower()
                data = record.content_stream().read(max_file_bytes + 1)
                context = {"url": uri, "archived_at": record.rec_headers.get_header("WARC-Date"), "warc": name}
                if ctype.startswith(("text/html", "application/xhtml")):
                    _, links = extract(data[:max_file_bytes].decode("utf-8", "replace"), uri)
                    out.links += [u for u in links if u not in out.links]
                    continue
                if not ctype.startswith(_MEDIA_TYPES) and not ctype.startswith("application/octet-stream"):
                    continue
                ref_name = f"{name}!{uri}"
                if len(data) > max_file_bytes:
                    out.items.append(ExportItem(MediaRef(path=ref_name, error="record is over the size limit"),
                                                context))
                else:
                    out.items.append(ExportItem(MediaRef(path=ref_name, data=data), context))
    except (ArchiveLoadFailed, OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError,
            zlib.error) as exc:  # NotImplementedError: a WACZ needing an unsupported zip version (fuzz_exports)
        out.errors.append(f"{path}: unreadable WARC/WACZ: {exc}")
    if records == 0 and not out.errors:
        out.errors.append(f"{path}: no WARC records found (not a WARC/WACZ file?)")
    return out
