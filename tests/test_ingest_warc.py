"""Web archives (#16), written byte by byte here as crawlers write them: every record type that
holds a payload, revisits resolved to the original payload in the same archive (a second URL of
the same picture is a second location) or reported as "payload in another archive", content type
from the bytes, WARC 1.0 and 1.1, chunked and gzip transfer encodings, WACZ, a whole-file gzip
refused with a clear error and a non-zero exit, and items that hold no payload bytes (streaming)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.errors import InputError
from haechi.sources import exports
from haechi.sources.files import MediaRef
from haechi.sources.warc import read_payload


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    scene(seed).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _digest(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode()  # noqa: S324 - WARC's digest


def _record(rtype: str, uri: str, block: bytes, version: str = "1.0", content_type: str | None = None,
            **extra: str) -> tuple[bytes, str]:
    rid = f"<urn:uuid:{uuid.uuid4()}>"
    headers = {"WARC-Type": rtype, "WARC-Record-ID": rid, "WARC-Date": "2026-11-20T21:03:11Z",
               "WARC-Target-URI": uri, **{k.replace("_", "-"): v for k, v in extra.items()}}
    if content_type:
        headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(block))
    head = f"WARC/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + block + b"\r\n\r\n", rid


def _http(payload: bytes, ctype: str | None, status: str = "200 OK", chunked: bool = False,
          gzipped: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status}"]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    body = payload
    if gzipped:
        body = gzip.compress(body)
        lines.append("Content-Encoding: gzip")
    if chunked:
        half = len(body) // 2
        body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:])) + b"0\r\n\r\n"
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _response(uri: str, payload: bytes, ctype: str | None, version: str = "1.0", **kw: object) -> tuple[bytes, str]:
    return _record("response", uri, _http(payload, ctype, **kw), version,  # type: ignore[arg-type]
                   "application/http; msgtype=response", WARC_Payload_Digest=_digest(payload))


def _write(path: Path, records: list[bytes], per_record_gzip: bool = True) -> Path:
    if per_record_gzip:
        path.write_bytes(b"".join(gzip.compress(r) for r in records))
    else:
        path.write_bytes(b"".join(records))
    return path


def _items(path: Path) -> dict[str, exports.ExportItem]:
    return {i.context["url"]: i for i in exports.warc(path, 10**8).items}


def test_content_type_comes_from_the_bytes(tmp_path: Path) -> None:
    jpeg = _jpeg(1)
    records = [_response("http://bucket.example/u/1.jpg", jpeg, "binary/octet-stream")[0],
               _response("http://cdn.example/u/2", jpeg, None)[0],
               _response("http://board.example/file.php?id=3", jpeg, "text/plain")[0],
               _response("http://cdn.example/u/4.jpg", jpeg, "image/jpeg")[0],
               _response("http://cdn.example/style.css", b"body{}", "image/png")[0]]  # lies the other way
    scan = exports.warc(_write(tmp_path / "types.warc.gz", records), 10**8)
    assert [i.context["url"] for i in scan.items] == ["http://bucket.example/u/1.jpg", "http://cdn.example/u/2",
                                                      "http://board.example/file.php?id=3", "http://cdn.example/u/4.jpg"]
    assert all(i.ref.data is None and i.ref.record is not None for i in scan.items)  # streamed: offsets only
    assert all(read_payload(i.ref.record, i.ref.path, 10**8) == jpeg for i in scan.items if i.ref.record)
    assert sum(scan.summary["skipped"].values()) == 1


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("gz", [True, False])
def test_every_payload_record_type_and_encoding(tmp_path: Path, version: str, gz: bool) -> None:
    jpeg, other = _jpeg(2), _jpeg(3)
    info, _ = _record("warcinfo", "", b"software: test\r\n", version, "application/warc-fields")
    page, page_id = _response("http://site.example/", b"<html><a href='http://site.example/next'>n</a></html>",
                              "text/html", version)
    original, original_id = _response("http://site.example/a.jpg", jpeg, "image/jpeg", version, chunked=True,
                                      gzipped=True)
    records = [
        info, page, original,
        _record("request", "http://site.example/a.jpg", b"GET /a.jpg HTTP/1.1\r\n\r\n", version,
                "application/http; msgtype=request")[0],
        _record("resource", "file:///phone/DCIM/b.jpg", other, version, "image/jpeg")[0],
        _record("conversion", "http://site.example/c.jpg", other, version, "image/jpeg",
                WARC_Refers_To=original_id)[0],
        _record("metadata", "http://site.example/", b"outlink: http://site.example/x\r\n", version,
                "application/warc-fields")[0],
        _record("metadata", "urn:screenshot:http://site.example/", other, version, "image/jpeg")[0],
        _record("revisit", "http://mirror.example/same.jpg", b"HTTP/1.1 200 OK\r\n\r\n", version,
                "application/http; msgtype=response", WARC_Payload_Digest=_digest(jpeg),
                WARC_Profile="http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                WARC_Refers_To_Target_URI="http://site.example/a.jpg", WARC_Refers_To=original_id)[0],
        _record("revisit", "http://elsewhere.example/old.jpg", b"", version, None,
                WARC_Payload_Digest="sha1:AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH",
                WARC_Refers_To_Target_URI="http://elsewhere.example/first.jpg")[0],
        _record("revisit", "http://site.example/?again", b"", version, None,
                WARC_Payload_Digest=_digest(b"<html><a href='http://site.example/next'>n</a></html>"),
                WARC_Refers_To=page_id)[0],
        _response("http://site.example/gone.jpg", b"not found", "text/html", version, status="404 Not Found")[0],
    ]
    scan = exports.warc(_write(tmp_path / ("a.warc.gz" if gz else "a.warc"), records, gz), 10**8)
    items = {i.context["url"]: i for i in scan.items}
    assert set(items) == {"http://site.example/a.jpg", "file:///phone/DCIM/b.jpg", "http://site.example/c.jpg",
                          "urn:screenshot:http://site.example/", "http://mirror.example/same.jpg",
                          "http://elsewhere.example/old.jpg"}
    original_ref = items["http://site.example/a.jpg"].ref
    assert original_ref.record is not None and read_payload(original_ref.record, "x", 10**8) == jpeg  # de-chunked
    revisit = items["http://mirror.example/same.jpg"]
    assert revisit.ref.record == original_ref.record and revisit.context["payload_from"] == "http://site.example/a.jpg"
    elsewhere = items["http://elsewhere.example/old.jpg"]
    assert elsewhere.ref.error and "payload in another archive" in elsewhere.ref.error
    assert scan.summary["revisits_resolved"] == 1 and scan.summary["revisits_in_another_archive"] == 1
    assert scan.summary["skipped"]["HTTP status 404"] == 1
    assert scan.links == ["http://site.example/next"]


def test_wacz_is_read(tmp_path: Path) -> None:
    jpeg = _jpeg(4)
    warc = _write(tmp_path / "data.warc.gz", [_response("http://x.example/1.jpg", jpeg, "image/jpeg")[0]])
    wacz = tmp_path / "site.wacz"
    with zipfile.ZipFile(wacz, "w") as zf:
        zf.write(warc, "archive/data.warc.gz")
        zf.writestr("datapackage.json", "{}")
    (item,) = exports.warc(wacz, 10**8).items
    assert item.ref.record is not None and item.ref.record.member == "archive/data.warc.gz"
    assert read_payload(item.ref.record, item.ref.path, 10**8) == jpeg


def test_whole_file_gzip_is_a_clear_error(tmp_path: Path) -> None:
    records = [_response(f"http://x.example/{i}.jpg", _jpeg(i), "image/jpeg")[0] for i in range(3)]
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip.compress(b"".join(records)))
    with pytest.raises(InputError, match="whole.warc.gz.*one gzip stream"):
        exports.warc(path, 10**8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAECHI_")}
    proc = subprocess.run([sys.executable, "-m", "haechi.cli", "ingest", "warc", str(path), "--json",
                           "--home", str(tmp_path / "home")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0 and "one gzip stream" in proc.stderr and proc.stdout == ""


def test_ingest_matches_every_location_of_the_same_picture(sqlite_haechi: Haechi, tmp_path: Path) -> None:
    jpeg = _jpeg(5)
    (tmp_path / "orig.jpg").write_bytes(jpeg)
    sqlite_haechi.create_bank("known")
    list(sqlite_haechi.add_to_bank("known", [tmp_path / "orig.jpg"]))
    original, original_id = _response("http://a.example/p.jpg", jpeg, "binary/octet-stream")
    revisit = _record("revisit", "http://b.example/q.jpg", b"", "1.1", None, WARC_Payload_Digest=_digest(jpeg),
                      WARC_Refers_To=original_id)[0]
    beacon = io.BytesIO()
    from PIL import Image

    Image.new("P", (1, 1)).save(beacon, "GIF")
    records = [original, revisit, _response("http://t.example/px.gif", beacon.getvalue(), "image/gif")[0]]
    rows = [r for r in sqlite_haechi.ingest("warc", _write(tmp_path / "w.warc.gz", records)) if r["kind"] == "item"]
    assert [(r["url"], bool(r["matches"]), r["error"]) for r in rows] == [
        ("http://a.example/p.jpg", True, None), ("http://b.example/q.jpg", True, None),
        ("http://t.example/px.gif", False, None)]


def test_a_record_that_cannot_be_read_again_is_an_error_row(tmp_path: Path) -> None:
    from haechi.services.analyse import AnalyseOptions, analyse
    from haechi.sources.files import RecordLocator

    path = _write(tmp_path / "a.warc.gz", [_response("http://x.example/1.jpg", _jpeg(6), "image/jpeg")[0]])
    ref = MediaRef(path="a!x", record=RecordLocator(str(path), None, 5))  # not where a record starts
    rec = analyse(ref, AnalyseOptions(max_pixels=10**8, max_file_bytes=10**8))
    assert rec.error and "a!x" in rec.error


@pytest.mark.parametrize("gz", [False, True])
def test_old_arc_files_are_read_as_warc(tmp_path: Path, gz: bool) -> None:
    jpeg = _jpeg(7)
    desc = b"1 0 Haechi\nURL IP-address Archive-date Content-type Archive-length\n"
    header = b"filedesc://t.arc 0.0.0.0 20260101000000 text/plain %d\n" % len(desc) + desc + b"\n"
    http = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg
    record = b"http://x.example/a.jpg 1.2.3.4 20260101000000 application/octet-stream %d\n" % len(http) + http + b"\n"
    path = _write(tmp_path / ("t.arc.gz" if gz else "t.arc"), [header, record], gz)
    (item,) = exports.warc(path, 10**8).items
    assert item.context["url"] == "http://x.example/a.jpg" and item.ref.record is not None
    assert read_payload(item.ref.record, item.ref.path, 10**8) == jpeg


@pytest.mark.parametrize("json_out", [True, False])
def test_an_item_that_cannot_be_read_makes_the_exit_status_1_and_the_batch_goes_on(tmp_path: Path,
                                                                                    json_out: bool) -> None:
    """Like `scan`: every item is reported and the exit status says one failed (it was 0)."""
    good = _jpeg(1)
    records = [_response("http://x.example/broken.jpg", good[: len(good) // 3], "image/jpeg")[0],
               _response("http://x.example/good.jpg", _jpeg(2), "image/jpeg")[0]]
    path = _write(tmp_path / "partial.warc.gz", records)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAECHI_")}
    proc = subprocess.run([sys.executable, "-m", "haechi.cli", "ingest", "warc", str(path),
                           *(["--json"] if json_out else []), "--home", str(tmp_path / "home")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    if json_out:
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        items = {r["url"]: r for r in rows if r["kind"] == "item"}
        assert items["http://x.example/broken.jpg"]["error"] and items["http://x.example/good.jpg"]["error"] is None
    else:
        assert "2 media item(s)" in proc.stdout and "truncated" in proc.stdout
