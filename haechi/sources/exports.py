"""Sources that are archives of someone else's collection: Telegram Desktop exports, WARC/WACZ.

Each yields media as :class:`MediaRef` with the context a caseworker needs (chat, message id,
date, sender; or the archived URL and capture date), plus the links found, which become
capture candidates. Paths inside an export are confined to the export folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haechi.sources import MediaRef


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


def warc(path: Path, max_file_bytes: int) -> ExportScan:
    """Media payloads archived in a WARC or WACZ file, streamed (see :mod:`haechi.sources.warc`)."""
    from haechi.sources.warc import read_archive

    found = read_archive(path, max_file_bytes)
    return ExportScan(items=[ExportItem(i.ref, i.context) for i in found.items], links=found.links,
                      errors=found.errors, summary=found.summary())


@dataclass
class IngestTally:
    """The closing ``{"kind": "summary"}`` row of an ingest: what the source held (messages or
    records, media found, absent or skipped and why — from the reader) and what hashing did with
    it (hashed, matched, failed and why — counted from the scanned rows). Never a silent drop:
    every media item is counted once, as hashed, absent, skipped or failed."""

    found: ExportScan
    hashed: int = 0
    matched: int = 0
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, context: dict[str, Any], row: dict[str, Any]) -> None:
        """Count one scanned item (``context``: the item's context, ``row``: its scan result)."""
        if context.get("media_status") in ("absent", "skipped") and not context.get("hashed"):
            return  # counted by the reader, with its reason
        error = row.get("error")
        if error:
            reason = str(error).rsplit(": ", 1)[-1]
            self.failed[reason] = self.failed.get(reason, 0) + 1
            return
        self.hashed += 1
        self.matched += bool(row.get("matches"))

    def row(self) -> dict[str, Any]:
        return {"kind": "summary", **self.found.summary, "hashed": self.hashed, "matched": self.matched,
                "failed": dict(self.failed), "links": len(self.found.links), "errors": len(self.found.errors)}
