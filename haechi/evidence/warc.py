"""Write and check the evidence WARC (ISO 28500, WARC/1.1).

Why these rules: a WARC is only evidence if other tools read it as it says. httpx hands us a
body after *transfer* decoding (de-chunked), so a record that kept ``Transfer-Encoding:
chunked`` would describe bytes that are not there and replay tools would mis-read it. As
others who cannot keep the bytes as sent do (httrack2warc, the iipc/warc-specifications #22
discussion), the header is dropped, ``Content-Length`` set to what is stored, and the change is
named in a ``Haechi-Header-Note`` WARC field so nobody mistakes it for the server's. Content
encoding (gzip) is kept as transferred. Every record is the version warcinfo declares.

Records are serialised into memory first and appended whole, so a failure while building one
never leaves half a record in the file (:class:`EvidenceWarc`).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from haechi import __version__
from haechi.sources.web import FetchResult, Wire

WARC_VERSION = "WARC/1.1"
FORMAT = "WARC File Format 1.1"
_HOP_BY_HOP_CHANGED = "transfer-encoding"


def _text(value: bytes) -> str:
    """A header name or value as the ASCII text warcio can write: bytes outside printable ASCII
    (UTF-8 or legacy-encoded file names, control characters) are percent-encoded, as warcio
    itself tries to (RFC 8187) but without failing on values it cannot parse (found by
    fuzz_capture: ``attachment; filename=a.jpg; 사진`` made it raise UnicodeEncodeError)."""
    return "".join(chr(b) if 0x20 <= b < 0x7F or b == 0x09 else f"%{b:02X}" for b in value)


def response_headers(wire: Wire) -> tuple[list[tuple[str, str]], list[str]]:
    """The HTTP headers to store with ``wire.body``, and notes on what was changed."""
    notes: list[str] = []
    headers: list[tuple[str, str]] = []
    lengths: list[str] = []
    for name, value in wire.headers:
        key = name.decode("latin-1")
        if key.lower() == _HOP_BY_HOP_CHANGED:
            notes.append(f"Transfer-Encoding: {_text(value)} removed (the body is stored transfer-decoded)")
            continue
        if key.lower() == "content-length":
            lengths.append(_text(value).strip())
            continue
        headers.append((key, _text(value)))
    if wire.truncated:
        headers += [("Content-Length", v) for v in lengths]
    else:
        if lengths != [str(len(wire.body))]:
            was = ", ".join(lengths) if lengths else "none"
            if lengths or notes:
                notes.append(f"Content-Length set to the stored {len(wire.body)} bytes (was {was})")
        headers.append(("Content-Length", str(len(wire.body))))
    return headers, notes


class EvidenceWarc:
    """An evidence WARC being written to ``<path>.part``; :meth:`commit` renames it into place,
    :meth:`abort` removes it. Each exchange is appended whole or not at all."""

    def __init__(self, path: Path, description: str) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self._fh: BinaryIO | None = self.part.open("xb")
        self._append([self._writer(io.BytesIO()).create_warcinfo_record(path.name, {
            "software": f"Haechi {__version__}", "format": FORMAT, "description": description})])

    @staticmethod
    def _writer(buf: io.BytesIO) -> WARCWriter:
        return WARCWriter(buf, gzip=True, warc_version=WARC_VERSION)

    def _append(self, records: list[Any]) -> None:
        buf = io.BytesIO()
        writer = self._writer(buf)
        for record in records:
            writer.write_record(record)
        assert self._fh is not None, "WARC already closed"
        start = self._fh.tell()
        try:
            self._fh.write(buf.getvalue())
            self._fh.flush()
        except OSError:  # a full disk: cut the half-written record off, the caller decides
            with contextlib.suppress(OSError):
                self._fh.seek(start)
                self._fh.truncate(start)
            raise

    def exchange(self, url: str, status: int, wire: Wire, ip: str) -> None:
        """A request record and its response record, linked by ``WARC-Concurrent-To``."""
        builder = self._writer(io.BytesIO())
        headers, notes = response_headers(wire)
        warc_fields = {"WARC-IP-Address": ip}
        if notes:
            warc_fields["Haechi-Header-Note"] = "; ".join(notes)
        if wire.truncated:
            warc_fields["WARC-Truncated"] = "length"
        resp = builder.create_warc_record(
            url, "response", payload=io.BytesIO(wire.body), length=len(wire.body),
            http_headers=StatusAndHeaders(f"{status} {wire.reason}".rstrip(), headers, protocol=wire.http_version),
            warc_headers_dict=warc_fields)
        target = wire.request_target.decode("ascii", "replace")
        req = builder.create_warc_record(
            url, "request", payload=io.BytesIO(b""), length=0,
            http_headers=StatusAndHeaders(f"GET {target} {wire.http_version}",
                                          [(k.decode("latin-1"), _text(v)) for k, v in wire.request_headers],
                                          is_http_request=True),
            warc_headers_dict={"WARC-Concurrent-To": resp.rec_headers.get_header("WARC-Record-ID")})
        self._append([req, resp])

    def result(self, res: FetchResult) -> None:
        """Every hop of a fetch (redirects first), each appended whole."""
        for hop in res.hops:
            self.exchange(hop.url, hop.status, hop.wire, hop.ip)
        self.exchange(res.final_url, res.status, res.wire, res.ip)

    def note(self, url: str, fields: dict[str, str]) -> None:
        """A ``metadata`` record about ``url`` (e.g. why it could not be fetched)."""
        body = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("utf-8")
        builder = self._writer(io.BytesIO())
        self._append([builder.create_warc_record(url, "metadata", payload=io.BytesIO(body), length=len(body),
                                                 warc_content_type="application/warc-fields")])

    def commit(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.part.replace(self.path)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.part.unlink(missing_ok=True)


def check_warc(path: Path) -> list[str]:
    """Problems of a WARC Haechi wrote: warcio's own digest check of every record, plus record
    headers that disagree with the stored payload and versions that disagree with warcinfo."""
    problems: list[str] = []
    declared: str | None = None
    try:
        with path.open("rb") as fh:
            it = ArchiveIterator(fh, check_digests=True)
            for record in it:
                payload = record.raw_stream.read()  # first: asking the offset reads the record to its end
                where = f"{path.name} @{it.get_record_offset()} {record.rec_type}"
                version = record.rec_headers.protocol
                if record.rec_type == "warcinfo":
                    info = payload.decode("utf-8", "replace")
                    fmt = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                                if line.lower().startswith("format:")), "")
                    declared = "WARC/" + fmt.rsplit(" ", 1)[-1] if fmt else None
                    if declared and declared != version:
                        problems.append(f"{where}: warcinfo says {fmt!r} but the record is {version}")
                    continue
                if declared and version != declared:
                    problems.append(f"{where}: record is {version}, warcinfo declares {declared}")
                problems += [f"{where}: {p}" for p in (record.digest_checker.problems or [])]
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                te = record.http_headers.get_header("Transfer-Encoding")
                if te:
                    problems.append(f"{where}: Transfer-Encoding {te!r} over a stored (decoded) body")
                cl = record.http_headers.get_header("Content-Length")
                truncated = record.rec_headers.get_header("WARC-Truncated")
                if cl is not None and not truncated and cl.strip() != str(len(payload)):
                    problems.append(f"{where}: Content-Length {cl} but {len(payload)} bytes stored")
    except ArchiveLoadFailed as exc:
        problems.append(f"{path.name}: not a readable WARC: {exc}")
    return problems
