"""Web archives (WARC 1.0/1.1, plain or gzipped per record, and WACZ) as media items.

Why these rules:

- **Every record type that can hold a payload**: ``response`` and ``resource`` (the payload),
  ``conversion`` (a payload converted from another record), ``metadata`` (only when its bytes are
  media), and ``revisit`` — a crawler's note that a URL served the same bytes as an earlier
  record. A revisit is a second place the same picture was online (a second URL to take down),
  so it is resolved to the original payload in the same archive and reported as its own item; if
  the original is not in this archive it is reported as "payload in another archive".
- **Type from the bytes**: images are archived as ``binary/octet-stream``, ``text/plain`` or with
  no type at all; the header is a hint, the bytes decide.
- **Streaming**: the archive is read once, record by record; an item keeps only where its record
  starts (:class:`~haechi.sources.files.RecordLocator`) and the hasher reads the payload from
  there. No archive, and no payload but one HTML page at a time, is held in memory.
- **A whole-file gzip** (``gzip file.warc``) cannot be read record by record: that is an
  :class:`InputError` naming the file and the fix, never a partial result that looks complete.
  Other damage (not a WARC at all, a record cut short) is reported in ``errors`` next to what
  could be read.
"""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from haechi.errors import InputError
from haechi.media.decode import sniff_media_type
from haechi.sources.files import MediaRef, RecordLocator

_PAYLOAD_TYPES = ("response", "resource", "conversion", "metadata")
_HEAD = 64
_HTML_HEADS = (b"<!doctype html", b"<html", b"<head", b"<body")


@dataclass
class WarcItem:
    ref: MediaRef
    context: dict[str, Any]


@dataclass
class WarcScan:
    items: list[WarcItem] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    revisits_resolved: int = 0
    revisits_elsewhere: int = 0

    def summary(self) -> dict[str, Any]:
        return {"format": "warc", "records": dict(self.records), "media_items": len(self.items),
                "revisits_resolved": self.revisits_resolved, "revisits_in_another_archive": self.revisits_elsewhere,
                "skipped": dict(self.skipped)}


def _streams(path: Path) -> Iterator[tuple[str | None, IO[bytes]]]:
    """(zip member or None, stream) for a WARC file or each WARC inside a WACZ."""
    if zipfile.is_zipfile(path):  # WACZ: a zip with archive/*.warc(.gz)
        with zipfile.ZipFile(path) as zf:
            members = [i.filename for i in zf.infolist()
                       if i.filename.startswith("archive/") and i.filename.endswith((".warc", ".warc.gz"))]
            if not members:
                raise InputError(str(path), "a zip without archive/*.warc(.gz): not a WACZ file")
            for name in members:
                with zf.open(name) as fh:
                    yield name, fh
        return
    with path.open("rb") as fh:
        yield None, fh


@contextmanager
def _open_at(loc: RecordLocator) -> Iterator[IO[bytes]]:
    if loc.member is None:
        with open(loc.archive, "rb") as fh:
            fh.seek(loc.offset)
            yield fh
        return
    with zipfile.ZipFile(loc.archive) as zf, zf.open(loc.member) as member:
        member.seek(loc.offset)
        yield member


def read_payload(loc: RecordLocator, source: str, limit: int) -> bytes:
    """The payload of the record at ``loc`` (HTTP transfer and content encodings undone), at most
    ``limit`` bytes; over it is an :class:`InputError`."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        with _open_at(loc) as fh:
            record = next(iter(ArchiveIterator(fh, arc2warc=True)))
            data: bytes = record.content_stream().read(limit + 1)
    except (ArchiveLoadFailed, OSError, StopIteration, zipfile.BadZipFile, EOFError, ValueError, zlib.error) as exc:
        raise InputError(source, f"cannot read the archived record again: {exc or type(exc).__name__}") from None
    if len(data) > limit:
        raise InputError(source, f"record payload is over the limit of {limit} bytes")
    return data


def _looks_html(ctype: str, head: bytes) -> bool:
    if ctype.startswith(("text/html", "application/xhtml")):
        return True
    return head.lstrip()[:15].lower().startswith(_HTML_HEADS)


def read_archive(path: Path, max_file_bytes: int) -> WarcScan:
    """Every media payload in the WARC/WACZ at ``path`` (see the module docstring)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    from haechi.sources.html_media import extract

    if not path.is_file():
        raise InputError(str(path), "no such file")
    out = WarcScan()
    #: payload digest / record id -> (locator, url) of media payloads, for revisits
    by_digest: dict[str, tuple[RecordLocator, str]] = {}
    by_id: dict[str, tuple[RecordLocator, str]] = {}
    pending: list[tuple[int, str, str]] = []  # (item index, digest, refers-to id) of unresolved revisits
    not_media: set[str] = set()  # digests and ids of payloads that are not media (pages, scripts)
    try:
        for member, stream in _streams(path):
            shown = f"{path}!{member}" if member else str(path)
            it = ArchiveIterator(stream, arc2warc=True)  # old ARC files read as WARC records
            for record in it:
                rtype = record.rec_type
                if rtype is None:
                    raise ValueError(f"record {sum(out.records.values()) + 1} has no WARC-Type header")
                out.records[rtype] += 1
                if rtype not in _PAYLOAD_TYPES and rtype != "revisit":
                    continue
                headers = record.rec_headers
                uri = headers.get_header("WARC-Target-URI") or ""
                context = {"url": uri, "archived_at": headers.get_header("WARC-Date"), "warc": shown,
                           "record_type": rtype}
                status = record.http_headers.get_statuscode() if record.http_headers is not None else None
                if rtype == "revisit":
                    digest = headers.get_header("WARC-Payload-Digest") or ""
                    refers = headers.get_header("WARC-Refers-To") or ""
                    if status and not status.startswith("2"):
                        out.skipped[f"revisit of an HTTP {status} response"] += 1
                        continue
                    context["revisit_of"] = headers.get_header("WARC-Refers-To-Target-URI")
                    out.items.append(WarcItem(MediaRef(path=f"{shown}!{uri}"), context))
                    pending.append((len(out.items) - 1, digest, refers))
                    continue
                if status and not status.startswith("2"):
                    out.skipped[f"HTTP status {status}"] += 1
                    continue
                ctype = ""
                if record.http_headers is not None:
                    ctype = (record.http_headers.get_header("Content-Type") or "").lower()
                elif rtype != "metadata":
                    ctype = (headers.get_header("Content-Type") or "").lower()
                stream_in = record.content_stream()
                head = stream_in.read(_HEAD)
                kind = sniff_media_type(head) if head else "empty"
                if kind == "unknown" and rtype != "metadata" and _looks_html(ctype, head):
                    not_media.update(filter(None, (headers.get_header("WARC-Payload-Digest"),
                                                   headers.get_header("WARC-Record-ID"))))
                    html = head + stream_in.read(max_file_bytes - len(head))
                    _, links = extract(html.decode("utf-8", "replace"), uri)
                    out.links += [u for u in links if u not in out.links]
                    continue
                if kind not in ("image", "video"):
                    out.skipped[f"{rtype} record: not media ({ctype or 'no type'})"] += 1
                    not_media.update(filter(None, (headers.get_header("WARC-Payload-Digest"),
                                                   headers.get_header("WARC-Record-ID"))))
                    continue
                loc = RecordLocator(archive=str(path), member=member, offset=it.get_record_offset())
                out.items.append(WarcItem(MediaRef(path=f"{shown}!{uri}", record=loc), context))
                digest = headers.get_header("WARC-Payload-Digest")
                if digest:
                    by_digest.setdefault(digest, (loc, uri))
                record_id = headers.get_header("WARC-Record-ID")
                if record_id:
                    by_id[record_id] = (loc, uri)
    except ArchiveLoadFailed as exc:
        if "non-chunked gzip" in str(exc):
            raise InputError(str(path), "the whole file is one gzip stream, so its records cannot be read one "
                                        "by one; recompress it per record (warcio recompress IN OUT)") from None
        out.errors.append(f"{path}: unreadable WARC/WACZ after {sum(out.records.values())} record(s): {exc}")
    except InputError as exc:  # a zip that is not a WACZ
        out.errors.append(str(exc))
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        # NotImplementedError: a WACZ needing an unsupported zip version (fuzz_exports)
        out.errors.append(f"{path}: unreadable WARC/WACZ after {sum(out.records.values())} record(s): {exc}")
    if not out.records and not out.errors:
        out.errors.append(f"{path}: no WARC records found (not a WARC/WACZ file?)")
    dropped: set[int] = set()
    for index, digest, refers in pending:
        found = by_id.get(refers) or by_digest.get(digest)
        item = out.items[index]
        if found is None and (refers in not_media or digest in not_media):
            dropped.add(index)  # a revisit of a page or a script: not media
            out.skipped["revisit record: not media"] += 1
            continue
        if found is None:
            out.revisits_elsewhere += 1
            reason = "payload in another archive (revisit record"
            reason += f" of {item.context['revisit_of']})" if item.context.get("revisit_of") else ")"
            item.ref = replace(item.ref, error=reason)
            continue
        out.revisits_resolved += 1
        item.ref = replace(item.ref, record=found[0])
        item.context["payload_from"] = found[1]
    if dropped:
        out.items = [item for i, item in enumerate(out.items) if i not in dropped]
    return out
