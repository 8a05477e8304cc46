"""Sources that are archives of someone else's collection: Telegram Desktop exports, WARC/WACZ.

Each yields media as :class:`MediaRef` with the context a caseworker needs (chat, message id,
date, sender; or the archived URL and capture date), plus the links found, which become
capture candidates. Paths inside an export are confined to the export folder.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from haechi.errors import InputError
from haechi.sources import MediaRef

MAX_RESULT_JSON = 512 * 1024 * 1024
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


def _text_links(message: dict[str, Any]) -> list[str]:
    links = []
    entities = message.get("text_entities") or (message.get("text") if isinstance(message.get("text"), list) else [])
    for ent in entities or []:
        if not isinstance(ent, dict):
            continue
        if ent.get("type") == "link" and isinstance(ent.get("text"), str):
            links.append(ent["text"])
        elif ent.get("type") == "text_link" and isinstance(ent.get("href"), str):
            links.append(ent["href"])
    return [u if u.startswith(("http://", "https://")) else "https://" + u for u in links]


def _chats(data: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(data.get("messages"), list):
        return [data]
    chats = data.get("chats", {})
    listed = chats.get("list", []) if isinstance(chats, dict) else []
    return [c for c in listed if isinstance(c, dict) and isinstance(c.get("messages"), list)]


def telegram(export_dir: Path, max_file_bytes: int) -> ExportScan:
    """Read a Telegram Desktop JSON export (``result.json`` + media folders)."""
    root = export_dir.resolve()
    result = root / "result.json"
    if not result.is_file():
        raise InputError(str(export_dir), "no result.json: not a Telegram Desktop JSON export")
    if result.stat().st_size > MAX_RESULT_JSON:
        raise InputError(str(result), "result.json is too large")
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(str(result), f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(str(result), "malformed export: top level is not an object")
    out = ExportScan()
    for chat in _chats(data):
        chat_name = str(chat.get("name") or chat.get("id") or "")
        for msg in chat["messages"]:
            if not isinstance(msg, dict) or msg.get("type") != "message":
                continue
            out.links += [u for u in _text_links(msg) if u not in out.links]
            rel = msg.get("photo") or msg.get("file")
            if not isinstance(rel, str) or not rel or rel.startswith("(File not included"):
                continue
            context = {"chat": chat_name, "chat_id": chat.get("id"), "message_id": msg.get("id"),
                       "date": msg.get("date"), "sender": msg.get("from"), "sender_id": msg.get("from_id"),
                       "media_path": rel}
            path = (root / rel).resolve()
            name = f"{export_dir}/{rel}"
            if root not in path.parents:
                out.items.append(ExportItem(MediaRef(path=name, error="path escapes the export folder"), context))
            elif not path.is_file():
                out.items.append(ExportItem(MediaRef(path=name, error="media file missing from the export"), context))
            elif path.stat().st_size > max_file_bytes:
                out.items.append(ExportItem(MediaRef(path=name, error="file is over the size limit"), context))
            else:
                out.items.append(ExportItem(MediaRef(path=name, file=str(path)), context))
    return out


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
