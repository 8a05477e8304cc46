"""Web capture and evidence: safe fetching (SSRF), WARC + screenshot + media scan, custody log
tamper detection, evidence packages verified offline. A test web server runs on 127.0.0.1."""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from warcio.archiveiterator import ArchiveIterator

from haechi import Haechi
from haechi.errors import InputError, NotFound
from haechi.evidence.package import verify_package
from haechi.sources.html_media import extract
from haechi.sources.web import FetchLimits, check_url, fetch
from haechi.store.models import CrawlState
from haechi.store.sealed import MAGIC
from tests.helpers import scene_jpeg as _jpeg

HAS_CHROMIUM = Path("/usr/bin/chromium").exists()



class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?")[0]
        if path == "/slow":
            time.sleep(3)
        if path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            try:
                for _ in range(400):
                    self.wfile.write(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        status, ctype, body, headers = self.routes.get(path, (404, "text/plain", b"not found", {}))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_port}"
    page = f"""<!doctype html><html><head><title>forum</title>
      <meta property="og:image" content="/img/og.jpg"></head><body>
      <p>thread <b>unclosed <i>tags
      <img src="/img/copy.jpg" alt="x"><img srcset="/img/small.jpg 1x, /img/other.jpg 2x">
      <img src="data:image/png;base64,AAAA"><a href="{base}/next.html">next</a>
      <video poster="/img/missing.jpg"><source src="/img/other.jpg"></video>
      <img src="http://169.254.169.254/latest/meta-data/">
    """.encode()
    _Handler.routes = {
        "/page.html": (200, "text/html; charset=utf-8", page, {}),
        "/redirect": (302, "text/plain", b"", {"Location": "/page.html"}),
        "/loop": (302, "text/plain", b"", {"Location": "/loop"}),
        "/img/copy.jpg": (200, "image/jpeg", _jpeg(700, "crop_offcentre"), {}),
        "/img/og.jpg": (200, "image/jpeg", _jpeg(700), {}),
        "/img/small.jpg": (200, "image/jpeg", _jpeg(701, "resize"), {}),
        "/img/other.jpg": (200, "image/jpeg", _jpeg(9999), {}),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()


PRIVATE = FetchLimits(allow_private=True, timeout_s=10)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://[::1]/", "http://2130706433/", "http://0x7f000001/", "http://localhost/",
    "http://10.0.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://metadata.google.internal/",
])
def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(InputError) as exc:
        check_url(url)
    assert url.split("/")[2].strip("[]").split(":")[0] in str(exc.value) or "refused" in str(exc.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "http://", "gopher://x/",
                                 "http://user:pw@example.org/", "not a url"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InputError):
        check_url(url)


def test_redirect_into_private_space_is_refused(site: str) -> None:
    _Handler.routes["/to-private"] = (302, "text/plain", b"", {"Location": "http://127.0.0.1:9/"})
    # allowed to reach the test server itself only via allow_private; the hop check still runs
    with pytest.raises(InputError):
        fetch(f"{site}/to-private", FetchLimits(allow_private=False))
    with pytest.raises(InputError) as exc:
        fetch(f"{site}/loop", PRIVATE)
    assert "redirects" in str(exc.value)


def test_fetch_limits(site: str) -> None:
    res = fetch(f"{site}/redirect", PRIVATE)
    assert res.status == 200 and res.final_url.endswith("/page.html") and len(res.hops) == 1
    with pytest.raises(InputError) as exc:
        fetch(f"{site}/huge", FetchLimits(allow_private=True, max_bytes=1_000_000))
    assert "over the limit" in str(exc.value)
    with pytest.raises(InputError) as exc:
        fetch(f"{site}/slow", FetchLimits(allow_private=True, timeout_s=1))
    assert "timed out" in str(exc.value)
    # an unreachable port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError) as exc:
        fetch(f"http://127.0.0.1:{port}/", PRIVATE)
    assert "fetch failed" in str(exc.value)


def test_extract_media_from_broken_html() -> None:
    media, links = extract('<img src="a.jpg"><img srcset="b.jpg 1x, c.jpg 2x"><meta property="og:image" '
                           'content="https://cdn.example/d.jpg"><source src="e.mp4"><img src="javascript:x">'
                           '<a href="/f">f</a><img src="a.jpg"><div <<<', "https://site.example/t/1")
    assert media == ["https://site.example/t/a.jpg", "https://site.example/t/b.jpg", "https://site.example/t/c.jpg",
                     "https://cdn.example/d.jpg", "https://site.example/t/e.mp4"]
    assert links == ["https://site.example/f"]


def test_capture_records_warc_media_matches_and_custody(tmp_path: Path, site: str) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.create_bank("victim")
        (tmp_path / "orig.jpg").write_bytes(_jpeg(700))
        list(h.add_to_bank("victim", [tmp_path / "orig.jpg"], label="case-7"))
        (row,) = list(h.capture([f"{site}/redirect"], case_ref="CASE-7", actor="worker-lee",
                                screenshot=False, allow_private=True))
        assert row["error"] is None and row["status"] == 200 and row["final_url"].endswith("/page.html")
        by_url = {m["url"].rstrip("/").rsplit("/", 1)[-1]: m for m in row["media"]}
        # the cropped copy and the og:image original are found; the unrelated image is not
        assert by_url["copy.jpg"]["matches"][0]["label"] == "case-7"
        assert by_url["og.jpg"]["matches"][0]["distance"] == 0
        assert by_url["other.jpg"]["matches"] == []
        assert "HTTP 404" in by_url["missing.jpg"]["error"]
        assert "metadata" in by_url["meta-data"]["error"]  # refused even with --allow-private
        warc = Path(row["warc"])
        assert row["sha256"]["capture.warc.gz"] and warc.stat().st_mode & 0o777 == 0o400
        assert warc.read_bytes().startswith(MAGIC)  # sealed at rest; read through the store
        with io.BytesIO(h.artefact_bytes(row["capture_id"], "capture.warc.gz")) as fh:
            records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(fh)]
        assert ("response", f"{site}/redirect") in records and ("response", f"{site}/page.html") in records
        assert ("response", f"{site}/img/copy.jpg") in records
        assert row["custody_entry"]["prev_hash"] == "0" * 64
        verified = h.verify_custody("CASE-7")
        assert verified["ok"] and verified["entries"] == 1


def test_custody_log_detects_edit_delete_reorder_and_artefact_change(tmp_path: Path, site: str) -> None:
    home = tmp_path / "home"
    with Haechi(home=home, workers=1) as h:
        rows = list(h.capture([f"{site}/page.html", f"{site}/img/og.jpg", f"{site}/img/other.jpg"],
                              case_ref="C1", screenshot=False, allow_private=True))
        assert all(r["error"] is None for r in rows)
        assert h.verify_custody()["ok"]
        db = h.db

        def tamper(sql: str) -> list[str]:
            with db.engine.begin() as conn:
                conn.execute(text("PRAGMA foreign_keys=OFF"))  # an attacker with file access can
                conn.execute(text(sql))
            result = h.verify_custody()
            assert not result["ok"]
            return result["problems"]

        snapshot = home / "haechi.db.bak"
        db.dispose()
        shutil.copy(home / "haechi.db", snapshot)
        assert any("edited" in p for p in tamper("update custody_log set actor = 'someone else' where id = 2"))
        db.dispose()
        shutil.copy(snapshot, home / "haechi.db")
        assert any("deleted" in p or "missing" in p for p in tamper("delete from custody_log where id = 2"))
        db.dispose()
        shutil.copy(snapshot, home / "haechi.db")
        # reorder: swap the contents of entries 1 and 3
        problems = tamper("update custody_log set id = -1 where id = 1; ")
        assert problems
        db.dispose()
        shutil.copy(snapshot, home / "haechi.db")
        with db.engine.begin() as conn:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            conn.execute(text("update custody_log set id = 99 where id = 1"))
            conn.execute(text("update custody_log set id = 1 where id = 3"))
            conn.execute(text("update custody_log set id = 3 where id = 99"))
        result = h.verify_custody()
        assert not result["ok"] and any("previous entry" in p for p in result["problems"])
        db.dispose()
        shutil.copy(snapshot, home / "haechi.db")
        assert h.verify_custody()["ok"]
        shot = Path(rows[0]["warc"])
        shot.chmod(0o600)
        shot.write_bytes(shot.read_bytes() + b"x")
        result = h.verify_custody()
        assert not result["ok"] and any("modified" in p for p in result["problems"])


def test_evidence_package_round_trip_and_offline_verify(tmp_path: Path, site: str) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        list(h.capture([f"{site}/page.html"], case_ref="CASE-A", screenshot=False, allow_private=True))
        list(h.capture([f"{site}/img/other.jpg"], case_ref="CASE-B", screenshot=False, allow_private=True))
        list(h.capture([f"{site}/img/og.jpg"], case_ref="CASE-A", screenshot=False, allow_private=True))
        out = tmp_path / "case-a.zip"
        result = h.export_evidence("CASE-A", out, actor="officer", plaintext=True)
        assert result["captures"] == 2
        assert h.verify_custody()["ok"]  # the export is itself a custody entry
    report = verify_package(out)
    assert report["ok"], report["problems"]
    assert report["captures"] == 2 and report["custody_entries"] == 3  # 2 captures + export
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("report.pdf").startswith(b"%PDF")
        other = [r for r in manifest["custody"] if "details" not in r]
        assert len(other) == 1 and "CASE-B" not in json.dumps(other)  # the other case leaks nothing
        members = {n: zf.read(n) for n in zf.namelist()}
    # tamper: change a WARC inside the package
    warc_name = next(n for n in members if n.endswith(".warc.gz"))
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data + b"tampered" if n == warc_name else data)
    report = verify_package(bad)
    assert not report["ok"] and any(warc_name in p for p in report["problems"])
    # tamper: edit the manifest's custody entry and re-hash nothing
    manifest["custody"][0]["actor"] = "forged"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, json.dumps(manifest).encode() if n == "manifest.json" else data)
    assert not verify_package(bad)["ok"]
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError):
        verify_package(tmp_path / "junk.zip")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CHROMIUM, reason="Debian chromium not installed")
def test_capture_with_screenshot(tmp_path: Path, site: str) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        (row,) = list(h.capture([f"{site}/page.html"], case_ref="C", allow_private=True))
        png = h.artefact_bytes(row["capture_id"], "screenshot.png")
    assert row["error"] is None and row.get("screenshot_error") is None, row
    assert png.startswith(b"\x89PNG") and row["sha256"]["screenshot.png"]


def test_capture_refuses_private_without_flag(tmp_path: Path, site: str) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        (row,) = list(h.capture([f"{site}/page.html"], screenshot=False))
        assert row["error"] and "non-public" in row["error"] and row["custody_entry"] is None
        assert h.verify_custody()["entries"] == 0


def test_ingest_telegram_export(tmp_path: Path) -> None:
    export = tmp_path / "ChatExport_2026-11-25"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "photo_1.jpg").write_bytes(_jpeg(700, "recompress"))
    (export / "photos" / "photo_2.jpg").write_bytes(_jpeg(8888))
    (tmp_path / "outside.jpg").write_bytes(_jpeg(700))
    result = {"name": "leak room", "type": "private_supergroup", "id": 777, "messages": [
        {"id": 1, "type": "message", "date": "2026-11-20T21:03:11", "from": "anon1", "from_id": "user1",
         "photo": "photos/photo_1.jpg", "text": "", "text_entities": []},
        {"id": 2, "type": "message", "date": "2026-11-20T21:04:00", "from": "anon2", "from_id": "user2",
         "text": ["more at ", {"type": "link", "text": "https://imagehost.example/a/123"}],
         "text_entities": [{"type": "plain", "text": "more at "},
                           {"type": "link", "text": "https://imagehost.example/a/123"},
                           {"type": "text_link", "text": "here", "href": "http://forum.example/t/9"}]},
        {"id": 3, "type": "message", "date": "2026-11-20T21:05:00", "from": "anon1", "photo": "photos/photo_2.jpg"},
        {"id": 4, "type": "message", "date": "2026-11-20T21:06:00", "from": "x", "photo": "../outside.jpg"},
        {"id": 5, "type": "message", "date": "2026-11-20T21:07:00", "from": "x", "file": "video_files/gone.mp4"},
        {"id": 6, "type": "message", "file": "(File not included. Change data exporting settings to download.)"},
        {"id": 7, "type": "service", "action": "join_group_by_link"},
        "garbage",
    ]}
    (export / "result.json").write_text(json.dumps(result), encoding="utf-8")
    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.create_bank("b")
        (tmp_path / "orig.jpg").write_bytes(_jpeg(700))
        list(h.add_to_bank("b", [tmp_path / "orig.jpg"], label="victim"))
        rows = list(h.ingest("telegram", export, case_ref="T-1", actor="worker"))
        items = {r["message_id"]: r for r in rows if r["kind"] == "item"}
        links = [r["url"] for r in rows if r["kind"] == "link"]
        assert set(items) == {1, 3, 4, 5, 6}  # 6: media not in the export, a row with its reason
        assert items[1]["matches"][0]["label"] == "victim" and items[1]["chat"] == "leak room"
        assert items[1]["sender"] == "anon1" and items[1]["date"] == "2026-11-20T21:03:11"
        assert items[3]["matches"] == []
        assert "escapes" in items[4]["error"] and "missing" in items[5]["error"]
        assert links == ["https://imagehost.example/a/123", "http://forum.example/t/9"]
        assert h.verify_custody("T-1")["entries"] == 1
    (export / "result.json").write_text("{not json")
    with Haechi(home=tmp_path / "home", workers=1) as h, pytest.raises(InputError) as exc:
        list(h.ingest("telegram", export))
    assert "result.json" in str(exc.value)


def test_ingest_warc_and_wacz(tmp_path: Path, site: str) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.create_bank("b")
        (tmp_path / "orig.jpg").write_bytes(_jpeg(700))
        list(h.add_to_bank("b", [tmp_path / "orig.jpg"], label="victim"))
        (cap,) = list(h.capture([f"{site}/page.html"], screenshot=False, allow_private=True))
        warc = tmp_path / "copy.warc.gz"
        warc.write_bytes(h.artefact_bytes(cap["capture_id"], "capture.warc.gz"))
        rows = list(h.ingest("warc", warc))
        items = [r for r in rows if r["kind"] == "item"]
        assert {r["url"].rsplit("/", 1)[-1] for r in items} >= {"copy.jpg", "og.jpg", "other.jpg"}
        assert all(r["archived_at"] for r in items)
        hits = {r["url"].rsplit("/", 1)[-1] for r in items if r["matches"]}
        assert hits == {"copy.jpg", "og.jpg"}
        assert f"{site}/next.html" in [r["url"] for r in rows if r["kind"] == "link"]
        wacz = tmp_path / "x.wacz"
        with zipfile.ZipFile(wacz, "w") as zf:
            zf.writestr("archive/data.warc.gz", warc.read_bytes())
            zf.writestr("datapackage.json", "{}")
        assert len([r for r in h.ingest("warc", wacz) if r["kind"] == "item"]) == len(items)
        (tmp_path / "bad.warc").write_bytes(b"WARC/1.0\r\nthis is not a warc" * 10)
        bad = list(h.ingest("warc", tmp_path / "bad.warc"))
        assert [r["kind"] for r in bad] == ["error", "summary"] and "bad.warc" in bad[0]["error"]  # summary: #16


def test_crawl_is_bounded_deduplicated_and_resumable(tmp_path: Path, site: str) -> None:
    pages = {
        "/c/index.html": '<a href="/c/a.html">a</a><a href="/c/b.html">b</a><a href="/c/a.html#x">again</a>'
                         '<a href="https://elsewhere.example/">off-site</a><img src="/img/og.jpg">',
        "/c/a.html": '<a href="/c/deep.html">deep</a><a href="/c/index.html">home</a>',
        "/c/b.html": '<a href="/c/a.html">a</a>',  # same body as a mirror page below
        "/c/deep.html": '<a href="/c/deeper.html">deeper</a>',
        "/c/deeper.html": "end",
    }
    for path, body in pages.items():
        _Handler.routes[path] = (200, "text/html", body.encode(), {})
    with Haechi(home=tmp_path / "home", workers=1) as h:
        rows = list(h.crawl(f"{site}/c/index.html", depth=2, max_pages=10, rate=0, case_ref="CR",
                            screenshot=False, allow_private=True))
        urls = [r["url"].rsplit("/", 1)[-1] for r in rows]
        assert urls == ["index.html", "a.html", "b.html", "deep.html"]  # depth 2, no off-site, no repeats
        assert rows[0]["media"][0]["url"].endswith("/img/og.jpg")
        assert h.verify_custody("CR")["entries"] == 4
        # bounded and resumable: stop after 2 pages, then continue the same crawl
        first = list(h.crawl(f"{site}/c/index.html", depth=3, max_pages=2, rate=0, screenshot=False,
                             allow_private=True))
        crawl_id = first[0]["crawl"]
        with h.db.session() as s:  # the saved state is in the database, not in this home
            row = s.get(CrawlState, crawl_id)
            state = json.loads(row.state)
            assert state["pages"] == 2 and not (tmp_path / "home" / "crawls").exists()
            state["max_pages"] = 10
            row.state = json.dumps(state)
        # another machine (its own home, the same database) continues the crawl
        with Haechi(home=tmp_path / "other", database_url=h.settings.database_url, workers=1) as other:
            rest = list(other.crawl("", resume=crawl_id, screenshot=False, allow_private=True))
        done = [r["url"].rsplit("/", 1)[-1] for r in first + rest]
        assert done == ["index.html", "a.html", "b.html", "deep.html", "deeper.html"]
        with pytest.raises(NotFound):
            list(h.crawl("", resume="no-such-crawl"))
        with pytest.raises(InputError):
            list(h.crawl("http://127.0.0.1/", depth=1))  # private without the flag


def test_trusted_timestamps_on_captures(tmp_path: Path, site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tsa_server import TSA

    tsa = TSA()
    try:
        (tmp_path / "root.pem").write_bytes(tsa.root_pem)
        monkeypatch.setenv("HAECHI_TSA_URL", tsa.url)
        monkeypatch.setenv("HAECHI_TSA_CERT", str(tmp_path / "root.pem"))
        with Haechi(home=tmp_path / "home", workers=1) as h:
            (row,) = list(h.capture([f"{site}/page.html"], case_ref="TS", screenshot=False, allow_private=True))
            assert row["timestamp"]["tsa"] == tsa.url and row["sha256"]["timestamp.tsr"]
            assert h.verify_custody("TS")["ok"]
            out = tmp_path / "ts.zip"
            h.export_evidence("TS", out, plaintext=True)
            assert verify_package(out)["ok"]
            # a token that covers other data is caught, even with its file hash updated in the log
            from haechi.evidence.timestamp import request_timestamp

            other = request_timestamp(b"something else", tsa.url).token
            tsr = Path(row["warc"]).with_name("timestamp.tsr")
            tsr.chmod(0o600)
            tsr.write_bytes(other)
            problems = h.verify_custody("TS")["problems"]
            assert any("timestamp" in p for p in problems)
        # a TSA that is down: the capture is still recorded, with the reason
        monkeypatch.setenv("HAECHI_TSA_URL", "http://127.0.0.1:9/tsa")
        with Haechi(home=tmp_path / "home2", workers=1) as h:
            (row,) = list(h.capture([f"{site}/page.html"], screenshot=False, allow_private=True))
            assert row["error"] is None and "unreachable" in row["timestamp_error"]
    finally:
        tsa.close()
