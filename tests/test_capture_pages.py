"""Web pages as centres receive them (#16), captured from a local server the test builds:
Korean file names and queries, EUC-KR and Shift_JIS pages, chunked and gzip transfers,
photos only in CSS, style sheets, lazy-loading, broken media next to good ones, 404/500
pages, hosts that cannot be reached. Every WARC written is checked with warcio's own checker
and :func:`haechi.evidence.warc.check_warc`."""

from __future__ import annotations

import contextlib
import gzip
import io
import resource
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.checker import Checker
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from haechi import Haechi
from haechi.errors import InputError
from haechi.evidence import warc as warc_mod
from haechi.evidence.capture import CHROMIUM, PageCapture, Screenshotter, capture_page, discard, orphans
from haechi.evidence.warc import check_warc
from haechi.sources.web import FetchLimits, Unreachable, fetch
from tests.helpers import scene_jpeg

LIMITS = FetchLimits(allow_private=True, timeout_s=10)
IMG = {name: scene_jpeg(seed) for name, seed in (("a", 801), ("b", 802), ("c", 803), ("d", 804), ("e", 805),
                                                 ("s", 806), ("m", 807), ("k", 808), ("q", 809))}
KOREAN_PAGE = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>게시판</title></head><body>" \
              "<img src='/data/사진.jpg'></body></html>"
EUCKR_PAGE = "<!DOCTYPE html><html><head><meta http-equiv='Content-Type' content='text/html; charset=euc-kr'>" \
             "<title>게시판</title></head><body><p>사진 올립니다</p><img src='/data/사진.jpg'>" \
             "<img src='/q?name=사진'></body></html>"
SJIS_PAGE = "<!DOCTYPE html><html><head><title>写真</title></head><body><p>写真をアップロードします。</p>" \
            "<img src='/写真.jpg'></body></html>"


def _gif_1x1() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (255, 255, 255)).save(buf, "GIF")
    return buf.getvalue()


def _html(body: str) -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requested: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, ctype: str, status: int = 200, *, chunked: bool = False,
              extra: list[tuple[str, bytes]] | None = None) -> None:
        head = [f"HTTP/1.1 {status} X".encode(), f"Content-Type: {ctype}".encode()]
        head += [k.encode() + b": " + v for k, v in extra or []]
        if chunked:
            head.append(b"Transfer-Encoding: chunked")
            payload = b"".join(f"{len(body[i:i + 3000]):x}\r\n".encode() + body[i:i + 3000] + b"\r\n"
                               for i in range(0, len(body), 3000)) + b"0\r\n\r\n"
        else:
            head.append(f"Content-Length: {len(body)}".encode())
            payload = body
        self.wfile.write(b"\r\n".join(head) + b"\r\n\r\n" + payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.requested.append(self.path)
        raw_path, _, raw_query = self.path.partition("?")
        path = unquote(raw_path, encoding="utf-8", errors="replace")
        jpeg = "image/jpeg"
        pages = {
            "/tme.html": _html("<div class='tgme_widget_message'><a class='tgme_widget_message_photo_wrap' "
                               "style=\"width:480px;background-image:url('/cdn/a.jpg')\"></a></div>"
                               "<div><a style=\"background-image:url('/cdn/b.jpg')\"></a></div>"),
            "/chunked.html": _html("<img src='/chunked/c.jpg'>"),
            "/sheet.html": _html("<link rel='stylesheet' href='/css/s.css'><link rel='stylesheet' href='/css/gone.css'>"
                                 "<div class='s'></div>"),
            "/lazy.html": _html("<img src='/blank.gif' data-src='/cdn/d.jpg'>"
                                "<img srcset='/cdn/e.jpg 1x, /cdn/c_fill,w_2/e.jpg 2x'>"),
            "/mixed.html": _html("<img src='/missing.jpg'><img src='/cut.jpg'><img src='/px.gif'>"
                                 "<img src='http://nothing-here.invalid/x.jpg'><img src='/cdn/a.jpg'>"),
            "/script.html": _html("<div id='g'></div><script>var i = document.createElement('img');"
                                  "i.src = '/cdn/' + 'd' + '.jpg'; document.getElementById('g').appendChild(i);"
                                  "</script><img src='/cdn/a.jpg'>"),
            "/gone.html": _html("<img src='/cdn/a.jpg'>"),
            "/error.html": _html("<img src='/cdn/a.jpg'>"),
        }
        if path in ("/gone.html", "/error.html"):
            return self._send(pages[path], "text/html; charset=utf-8", 410 if path == "/gone.html" else 503)
        if path in pages:
            return self._send(pages[path], "text/html; charset=utf-8")
        if path == "/korean.html":
            return self._send(KOREAN_PAGE.encode(), "text/html; charset=utf-8")
        if path == "/gzip.html":
            return self._send(gzip.compress(KOREAN_PAGE.encode()), "text/html; charset=utf-8", chunked=True,
                              extra=[("Content-Encoding", b"gzip")])
        if path == "/euckr.html":
            return self._send(EUCKR_PAGE.encode("cp949"), "text/html; charset=euc-kr")
        if path == "/sjis.html":  # declared nowhere
            return self._send(SJIS_PAGE.encode("cp932"), "text/html")
        if path == "/redirect-korean":  # a Location header in raw UTF-8, as some servers send it
            return self._send(b"", "text/plain", 302, extra=[("Location", "/data/사진.jpg".encode())])
        if path == "/data/사진.jpg":
            return self._send(IMG["k"], jpeg, extra=[("Content-Disposition", "inline; filename=\"사진.jpg\"".encode())])
        if path == "/rawname.jpg":  # an unquoted non-ASCII parameter, as some boards send it
            return self._send(IMG["k"], jpeg, extra=[
                ("Content-Disposition", "attachment; filename=a.jpg; 사진 설명".encode()),
                ("X-Legacy", "사진".encode("cp949"))])
        if path == "/写真.jpg":
            return self._send(IMG["k"], jpeg)
        if path == "/q" and unquote_to_bytes(raw_query) == "name=사진".encode("cp949"):
            return self._send(IMG["q"], jpeg)
        if path.startswith("/cdn/") and path.endswith(".jpg"):
            return self._send(IMG[path.rsplit("/", 1)[1][0]], jpeg)
        if path == "/chunked/c.jpg":
            return self._send(IMG["c"], jpeg, chunked=True)
        if path == "/css/s.css":
            return self._send(b"@import 'more.css'; .s{background-image:url(../img/s.jpg)}", "text/css")
        if path == "/css/more.css":
            return self._send(b".m{background:url('/img/m.jpg')} @font-face{src:url(/f.woff2)}", "text/css")
        if path == "/octet":  # a picture linked directly, served by a CDN as a generic download
            return self._send(IMG["a"], "application/octet-stream")
        if path in ("/img/s.jpg", "/img/m.jpg"):
            return self._send(IMG[path[5]], jpeg)
        if path in ("/px.gif", "/blank.gif"):
            return self._send(_gif_1x1(), "image/gif")
        if path == "/cut.jpg":  # the connection drops half-way through the body
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
                             + IMG["a"][:500])
            self.close_connection = True
            return None
        return self._send(b"not found", "text/plain", 404)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def assert_valid_warc(path: Path) -> list[Any]:
    """warcio's own checker (``warcio check``) and ours; returns the records' headers."""
    checker = Checker(SimpleNamespace(inputs=[str(path)], verbose=False))
    assert checker.process_all() == 0, f"warcio check failed on {path}"
    assert check_warc(path) == []
    with path.open("rb") as fh:
        return [(r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read()) for r in ArchiveIterator(fh)]


def _target(headers: Any) -> str:
    return str(headers.get_header("WARC-Target-URI"))


def _capture(tmp_path: Path, url: str, **kw: Any) -> PageCapture:
    cap = capture_page(url, tmp_path / "evidence", "2026-11-30T10:00:00Z", limits=LIMITS, **kw)
    assert not list(cap.folder.glob("*.part"))
    return cap


def _bodies(cap: PageCapture) -> dict[str, bytes | None]:
    return {m.url.rsplit("/", 1)[-1]: m.body for m in cap.media}


def test_photos_shown_only_as_css_backgrounds_are_captured(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/tme.html")
    assert _bodies(cap) == {"a.jpg": IMG["a"], "b.jpg": IMG["b"]}
    assert {m.how for m in cap.media} == {"css style attribute"}
    assert_valid_warc(cap.folder / "capture.warc.gz")


@pytest.mark.parametrize(("page", "expected"), [
    ("korean.html", {"%EC%82%AC%EC%A7%84.jpg": IMG["k"]}),
    ("gzip.html", {"%EC%82%AC%EC%A7%84.jpg": IMG["k"]}),
    ("euckr.html", {"%EC%82%AC%EC%A7%84.jpg": IMG["k"], "q?name=%BB%E7%C1%F8": IMG["q"]}),
    ("sjis.html", {"%E5%86%99%E7%9C%9F.jpg": IMG["k"]}),
])
def test_non_ascii_pages_and_file_names(tmp_path: Path, site: str, page: str, expected: dict[str, bytes]) -> None:
    """Korean file names are requested as UTF-8 %-escapes; an EUC-KR page's query in EUC-KR;
    the WARC (request lines, target URIs) is written, valid, and nothing is left half-done."""
    _Handler.requested = []
    cap = _capture(tmp_path, f"{site}/{page}")
    assert cap.error is None and cap.outcome == "captured"
    assert _bodies(cap) == expected
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    targets = [h.get_header("WARC-Target-URI") for t, h, _, _ in records if t == "response"]
    assert targets[0] == f"{site}/{page}" and [t.rsplit("/", 1)[-1] for t in targets[1:]] == list(expected)
    assert all(t.isascii() for t in targets)
    assert [p for p in _Handler.requested if p != f"/{page}"] == [t[len(site):] for t in targets[1:]]


def test_the_korean_content_disposition_header_is_kept_in_the_warc(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/korean.html")
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    (image,) = [http for t, h, http, _ in records if t == "response" and _target(h).endswith(".jpg")]
    assert "%EC%82%AC%EC%A7%84" in image.get_header("Content-Disposition")  # RFC 8187-encoded by warcio


def test_any_header_bytes_are_recorded(tmp_path: Path, site: str) -> None:
    """Header values warcio cannot encode itself (found by fuzz_capture) are percent-encoded."""
    cap = _capture(tmp_path, f"{site}/rawname.jpg")
    assert _bodies(cap) == {"rawname.jpg": IMG["k"]}
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    (http,) = [http for t, _, http, _ in records if t == "response"]
    assert http.get_header("Content-Disposition") == (
        "attachment; filename=a.jpg; %EC%82%AC%EC%A7%84 %EC%84%A4%EB%AA%85")
    assert http.get_header("X-Legacy") == "%BB%E7%C1%F8"


def test_chunked_bodies_are_recorded_without_a_false_transfer_encoding(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/chunked.html")
    assert _bodies(cap) == {"c.jpg": IMG["c"]}
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    ((rec, http, body),) = [(h, http, b) for t, h, http, b in records
                            if t == "response" and h.get_header("WARC-Target-URI").endswith("c.jpg")]
    assert http.get_header("Transfer-Encoding") is None and body == IMG["c"]
    assert http.get_header("Content-Length") == str(len(IMG["c"]))
    assert "Transfer-Encoding: chunked removed" in rec.get_header("Haechi-Header-Note")


def test_gzip_pages_keep_their_content_encoding(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/gzip.html")
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    (http,) = [http for t, h, http, _ in records if t == "response" and _target(h).endswith("gzip.html")]
    assert http.get_header("Content-Encoding") == "gzip" and http.get_header("Transfer-Encoding") is None


def test_a_picture_linked_directly_is_the_medium_whatever_its_content_type(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/octet")
    assert [(m.url, m.body, m.how) for m in cap.media] == [(f"{site}/octet", IMG["a"], "the page itself")]


def test_warcinfo_version_matches_the_records(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/tme.html")
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    assert records[0][0] == "warcinfo" and b"format: WARC File Format 1.1" in records[0][3]
    assert {h.protocol for _, h, _, _ in records} == {"WARC/1.1"}
    # request and response are linked
    req = [h for t, h, _, _ in records if t == "request"]
    resp_ids = {h.get_header("WARC-Record-ID") for t, h, _, _ in records if t == "response"}
    assert req and all(h.get_header("WARC-Concurrent-To") in resp_ids for h in req)


def test_the_warc_checker_finds_what_was_wrong_before(tmp_path: Path) -> None:
    """The two faults of the old writer: a 1.0 record under a 1.1 warcinfo, and a de-chunked
    body under ``Transfer-Encoding: chunked``."""
    path = tmp_path / "old.warc.gz"
    with path.open("wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"format": "WARC File Format 1.1"}))
        w.write_record(w.create_warc_record("http://x.example/a.jpg", "response", payload=io.BytesIO(b"abc"),
                                            http_headers=StatusAndHeaders("200 OK", [("Transfer-Encoding", "chunked")],
                                                                          protocol="HTTP/1.1")))
    problems = check_warc(path)
    assert any("warcinfo says" in p for p in problems)
    assert any("Transfer-Encoding" in p for p in problems)


def test_style_sheets_and_lazy_loading(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/sheet.html")
    assert _bodies(cap) == {"s.jpg": IMG["s"], "m.jpg": IMG["m"]}
    assert [(r.url.rsplit("/", 1)[-1], r.status, bool(r.error)) for r in cap.resources] == [
        ("s.css", 200, False), ("gone.css", 404, True), ("more.css", 200, False)]
    targets = [h.get_header("WARC-Target-URI") for t, h, _, _ in assert_valid_warc(cap.folder / "capture.warc.gz")
               if t == "response"]
    assert f"{site}/css/s.css" in targets and f"{site}/css/more.css" in targets
    lazy = _capture(tmp_path, f"{site}/lazy.html")
    assert set(_bodies(lazy)) == {"blank.gif", "d.jpg", "e.jpg"} and len(lazy.media) == 4  # c_fill,w_2/e.jpg too


def test_one_failing_url_never_stops_the_others(tmp_path: Path, site: str) -> None:
    cap = _capture(tmp_path, f"{site}/mixed.html")
    rows = {m.url.rsplit("/", 1)[-1]: m for m in cap.media}
    assert rows["missing.jpg"].body is None and "HTTP 404" in (rows["missing.jpg"].error or "")
    assert rows["missing.jpg"].status == 404
    assert rows["cut.jpg"].body is None and "fetch failed" in (rows["cut.jpg"].error or "")
    assert rows["x.jpg"].body is None and "cannot resolve host" in (rows["x.jpg"].error or "")
    assert rows["px.gif"].body == _gif_1x1()  # a 1x1 tracking pixel is just another medium
    assert rows["a.jpg"].body == IMG["a"]  # the URL after the failures is captured
    assert cap.error is None and cap.outcome == "captured"
    assert_valid_warc(cap.folder / "capture.warc.gz")


def test_a_failure_while_writing_one_medium_leaves_a_valid_warc(tmp_path: Path, site: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error while recording one URL (the old UnicodeEncodeError) is that URL's
    row; no half record is left in the WARC and the next URL is still recorded."""
    real = warc_mod.EvidenceWarc.exchange

    def failing(self: warc_mod.EvidenceWarc, url: str, *args: Any) -> None:
        if url.endswith("/cdn/a.jpg"):
            raise UnicodeEncodeError("ascii", "사", 0, 1, "ordinal not in range(128)")
        real(self, url, *args)

    monkeypatch.setattr(warc_mod.EvidenceWarc, "exchange", failing)
    cap = _capture(tmp_path, f"{site}/tme.html")
    rows = {m.url.rsplit("/", 1)[-1]: m for m in cap.media}
    assert rows["a.jpg"].body is None and "UnicodeEncodeError" in (rows["a.jpg"].error or "")
    assert rows["b.jpg"].body == IMG["b"]
    targets = [h.get_header("WARC-Target-URI") for t, h, _, _ in assert_valid_warc(cap.folder / "capture.warc.gz")]
    assert f"{site}/cdn/b.jpg" in targets and f"{site}/cdn/a.jpg" not in targets


def test_a_browser_or_recording_failure_is_the_captures_error_not_the_batchs(
        tmp_path: Path, site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def render(self, url: str) -> Any:
            raise RuntimeError("browser crashed")

    cap = _capture(tmp_path, f"{site}/tme.html", screenshotter=Broken())
    assert "browser crashed" in (cap.screenshot_error or "") and _bodies(cap) == {"a.jpg": IMG["a"], "b.jpg": IMG["b"]}
    real = warc_mod.EvidenceWarc.exchange

    def failing(self: warc_mod.EvidenceWarc, url: str, *args: Any) -> None:
        if url.endswith("tme.html"):
            raise UnicodeEncodeError("ascii", "사", 0, 1, "ordinal not in range(128)")
        real(self, url, *args)

    monkeypatch.setattr(warc_mod.EvidenceWarc, "exchange", failing)
    cap = _capture(tmp_path, f"{site}/tme.html")
    assert cap.outcome == "failed" and "recording failed: UnicodeEncodeError" in (cap.error or "")
    records = assert_valid_warc(cap.folder / "capture.warc.gz")
    assert [t for t, _, _, _ in records] == ["warcinfo", "metadata"]


def test_a_capture_that_cannot_be_written_leaves_no_artefact(tmp_path: Path, site: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(self: warc_mod.EvidenceWarc) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warc_mod.EvidenceWarc, "commit", disk_full)
    with pytest.raises(OSError):
        capture_page(f"{site}/tme.html", tmp_path / "evidence", "2026-11-30T10:00:00Z", limits=LIMITS)
    assert [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()] == []
    assert orphans(tmp_path / "evidence", []) == []


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail with EFBIG, as on a full disk (Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_fails_the_capture_and_leaves_nothing(tmp_path: Path, site: str) -> None:
    """Not one medium's row: the disk is full for every URL. The half-written record is cut off
    and the capture's folder removed, so nothing exists without its custody entry."""
    with _file_size_limit(len(IMG["a"]) + 4000), pytest.raises(OSError):
        capture_page(f"{site}/tme.html", tmp_path / "evidence", "2026-11-30T10:00:00Z", limits=LIMITS)
    assert [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()] == []


def test_a_record_that_does_not_fit_is_cut_off_whole(tmp_path: Path, site: str) -> None:
    res = fetch(f"{site}/cdn/a.jpg", LIMITS)
    warc = warc_mod.EvidenceWarc(tmp_path / "w.warc.gz", "test")
    warc.result(res)
    size = warc.part.stat().st_size
    with _file_size_limit(size + len(IMG["a"]) // 2), pytest.raises(OSError):
        warc.result(res)
    assert warc.part.stat().st_size == size
    warc.commit()
    assert [t for t, _, _, _ in assert_valid_warc(tmp_path / "w.warc.gz")] == ["warcinfo", "request", "response"]


@pytest.mark.parametrize(("page", "status", "outcome"), [("gone.html", 410, "gone"), ("error.html", 503, "http_error"),
                                                         ("nothing.html", 404, "gone")])
def test_http_status_is_evidence(tmp_path: Path, site: str, page: str, status: int, outcome: str) -> None:
    cap = _capture(tmp_path, f"{site}/{page}")
    assert (cap.status, cap.outcome, cap.reason, cap.item_status) == (status, outcome, f"HTTP {status}", "unreachable")
    assert cap.media == []  # the material is not at that URL: the site's other images are not it
    assert_valid_warc(cap.folder / "capture.warc.gz")


def test_unreachable_pages_are_recorded_with_their_reason(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url, why in ((f"http://127.0.0.1:{port}/page", "fetch failed"),
                     ("http://nothing-here.invalid/page", "cannot resolve host")):
        cap = _capture(tmp_path, url)
        assert cap.outcome == "unreachable" and cap.item_status == "unreachable"
        assert why in (cap.reason or "") and cap.error and cap.status is None
        records = assert_valid_warc(cap.folder / "capture.warc.gz")
        ((t, h, _, body),) = records[1:]
        assert t == "metadata" and h.get_header("WARC-Target-URI") == url
        assert b"outcome: unreachable" in body and why.encode() in body
        assert cap.artefacts["capture.warc.gz"]


def test_refused_urls_still_raise_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        capture_page("http://127.0.0.1:9/", tmp_path / "evidence", "2026-11-30T10:00:00Z", limits=FetchLimits())
    assert not isinstance(exc.value, Unreachable) and "non-public" in str(exc.value)
    assert not (tmp_path / "evidence").exists()


def test_redirects_with_raw_utf8_locations_are_followed(site: str) -> None:
    res = fetch(f"{site}/redirect-korean", LIMITS)
    assert res.final_url == f"{site}/data/%EC%82%AC%EC%A7%84.jpg" and res.body == IMG["k"]
    assert res.hops[0].wire.request_target == b"/redirect-korean"
    assert res.wire.request_target == b"/data/%EC%82%AC%EC%A7%84.jpg"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_what_the_browser_loaded_is_captured_too(tmp_path: Path, site: str) -> None:
    """A picture a script inserts is in no markup; the rendering browser loads it, so it is
    fetched, recorded and hashed like the rest (once: the markup's image is not repeated)."""
    with Screenshotter(LIMITS) as shooter:
        cap = _capture(tmp_path, f"{site}/script.html", screenshotter=shooter)
    assert cap.screenshot_error is None and (cap.folder / "screenshot.png").read_bytes().startswith(b"\x89PNG")
    assert [(m.url.rsplit("/", 1)[-1], m.how) for m in cap.media] == [("a.jpg", "img src"), ("d.jpg", "browser loaded")]
    assert _bodies(cap) == {"a.jpg": IMG["a"], "d.jpg": IMG["d"]}
    assert_valid_warc(cap.folder / "capture.warc.gz")


def test_orphans_and_discard(tmp_path: Path, site: str) -> None:
    evidence = tmp_path / "evidence"
    kept, lost = _capture(tmp_path, f"{site}/tme.html"), _capture(tmp_path, f"{site}/chunked.html")
    rel_kept, rel_lost = (c.folder.relative_to(evidence).as_posix() for c in (kept, lost))
    assert orphans(evidence, [rel_kept, rel_lost]) == []
    assert orphans(evidence, [rel_kept]) == [f"{rel_lost}: capture folder without a custody entry"]
    (kept.folder / "capture.warc.gz.part").write_bytes(b"half")
    assert f"{rel_kept}/capture.warc.gz.part: half-written file" in orphans(evidence, [rel_kept])
    discard(lost)
    assert not lost.folder.exists()


def test_haechi_capture_matches_every_page_and_goes_on_after_a_failure(tmp_path: Path, site: str) -> None:
    """Through the library as the CLI uses it: the banked photos are found on the t.me-style,
    Korean and EUC-KR pages, and an unreachable URL in the middle does not stop the next."""
    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.create_bank("victim")
        for name in ("a", "b", "k", "q"):
            (tmp_path / f"{name}.jpg").write_bytes(IMG[name])
        list(h.add_to_bank("victim", [tmp_path / f"{n}.jpg" for n in ("a", "b", "k", "q")]))
        urls = [f"{site}/tme.html", "http://nothing-here.invalid/", f"{site}/korean.html", f"{site}/euckr.html"]
        rows = list(h.capture(urls, screenshot=False, allow_private=True))
        assert [r["url"] for r in rows] == urls
        assert [sum(bool(m["matches"]) for m in r["media"]) for r in rows] == [2, 0, 1, 2]
        assert rows[1]["error"] and "cannot resolve host" in rows[1]["error"] and rows[1]["custody_entry"]
        for row in rows:
            assert_valid_warc(_stored_warc(h, row, tmp_path))


def _stored_warc(h: Haechi, row: dict[str, Any], tmp_path: Path) -> Path:
    """The plaintext WARC of a recorded capture (the store may seal files at rest: then the
    facade's ``artefact_bytes`` decrypts and checks it)."""
    reader = getattr(h, "artefact_bytes", None)
    if reader is None:
        return Path(row["warc"])
    path = tmp_path / f"capture-{row['capture_id']}.warc.gz"
    path.write_bytes(reader(row["capture_id"], "capture.warc.gz"))
    return path
