"""The URL Haechi requests for a page's picture is the very string Chromium requests (#16).

A notice names the URL, the WARC records it, and a capture that renders the page merges what the
browser loaded with what the markup names: if the two spell the same picture differently, it is
fetched, recorded and reported twice. The kinds that differed: a legacy encoding's ASCII trail byte
in a query (Shift_JIS 写 ``%90^``, CP949 똠 ``%8Cc``) and ASCII a browser leaves as is (``|{}`^[]\\``
in a query, ``[]`` in a path). Pages are generated here in Shift_JIS, CP949, GBK and UTF-8."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from haechi.evidence.capture import CHROMIUM, Screenshotter, capture_page
from haechi.sources.html_media import extract_page
from haechi.sources.urls import to_uri
from haechi.sources.web import FetchLimits
from tests.helpers import scene_jpeg
from tests.test_capture_pages import assert_valid_warc

LIMITS = FetchLimits(allow_private=True, timeout_s=10)

#: (encoding, image references written in the page) — each kind of character that was spelt
#: differently from Chromium, and some that always agreed
REFS = {
    "shift_jis": ["/i/a.jpg?q=写真表", "/i/b.jpg?n=ソ&x=|{}`^[]", "/写真/c.jpg?k=能"],
    "cp949": ["/i/d.jpg?k=똠방각하", "/i/e.jpg?q=사진&z=a b", "/자료/f[1].jpg"],
    "gbk": ["/i/g.jpg?q=照片丂", "/i/h.jpg?q='\"<>"],
    "utf-8": ["/i/j.jpg?q=사진|^", "/p/k{1}.jpg", "/p/l^m.jpg?%41=%e3"],
}


@pytest.mark.parametrize(("iri", "enc", "uri"), [
    # what Chromium 1xx sent for these (see the browser test below, which checks it live)
    ("http://h/i.jpg?q=写真表", "cp932", "http://h/i.jpg?q=%8E%CA%90^%95\\"),
    ("http://h/i.jpg?k=똠", "cp949", "http://h/i.jpg?k=%8Cc"),
    ("http://h/i.jpg?a=|{}`^'[]!~", "utf-8", "http://h/i.jpg?a=|{}`^%27[]!~"),
    ("http://h/a|b{c}`^'[h].jpg", "utf-8", "http://h/a%7Cb%7Bc%7D%60%5E'[h].jpg"),
    ("http://h/?q=\"<> x", "utf-8", "http://h/?q=%22%3C%3E%20x"),
])
def test_urls_are_spelt_as_the_browser_spells_them(iri: str, enc: str, uri: str) -> None:
    assert to_uri(iri, enc) == uri


def test_a_percent_trail_byte_never_makes_a_false_escape() -> None:
    # ISO-2022-JP writes katakana as ASCII byte pairs starting with "%" (ア is ESC $ B % "): the
    # "%" stays escaped, the other ASCII bytes go as the browser sends them
    assert to_uri("http://h/?q=ア", "iso2022_jp") == "http://h/?q=%1B$B%25%22%1B(B"


def _imgs(enc: str) -> str:
    return "".join("<img src='" + r.replace("'", "&#39;") + "'>" for r in REFS[enc])


class _Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requested: list[str] = []
    jpeg = scene_jpeg(3)

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.requested.append(self.path)
        enc = self.path.strip("/").split(".")[0]
        if enc in REFS:
            imgs = _imgs(enc)
            label = {"shift_jis": "Shift_JIS", "cp949": "euc-kr"}.get(enc, enc)
            page = f"<!DOCTYPE html><html><head><meta charset='{label}'></head><body>{imgs}</body></html>"
            return self._send(page.encode("cp932" if enc == "shift_jis" else enc), "text/html")
        return self._send(self.jpeg, "image/jpeg")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("enc", list(REFS))
def test_the_markup_gives_the_urls_we_expect(site: str, enc: str) -> None:
    page_url = f"{site}/{enc}.html"
    codec = "cp932" if enc == "shift_jis" else enc
    refs = extract_page(_imgs(enc), page_url, codec)
    assert [m.url for m in refs.media] == [to_uri(urljoin(page_url, r), codec) for r in REFS[enc]]


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_a_rendered_capture_fetches_each_picture_once_as_the_browser_names_it(tmp_path: Path, site: str) -> None:
    with Screenshotter(LIMITS) as shooter:
        for enc, refs in REFS.items():
            _Pages.requested.clear()
            cap = capture_page(f"{site}/{enc}.html", tmp_path / "evidence", "2026-11-30T10:00:00Z",
                               limits=LIMITS, screenshotter=shooter)
            assert cap.screenshot_error is None
            urls = [m.url for m in cap.media]
            assert len(urls) == len(refs), (enc, [(m.url, m.how) for m in cap.media])
            assert all(m.how == "img src" and m.body == _Pages.jpeg for m in cap.media), enc
            browser = {p for p in _Pages.requested if not p.endswith(".html") and p != "/favicon.ico"}
            assert {u.split("/", 3)[3] for u in urls} == {p.lstrip("/") for p in browser}, enc
            targets = [h.get_header("WARC-Target-URI") for t, h, *_ in assert_valid_warc(cap.folder / "capture.warc.gz")
                       if t == "response"]
            assert targets[1:] == urls, enc  # recorded under the browser's spelling


def test_capture_media_rows_say_quality_and_name_the_url_once(tmp_path: Path) -> None:
    """A 1x1 beacon is hashed with its (zero) PDQ quality and size; a picture that answers 404
    says so with its URL once, not twice."""
    import io

    from PIL import Image

    from haechi import Haechi

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "GIF")
    beacon = buf.getvalue()

    class _Beacon(_Pages):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path == "/page.html":
                return self._send(b"<html><img src='/px.gif'><img src='/gone.jpg'><img src='/a.jpg'></html>",
                                  "text/html")
            if self.path == "/px.gif":
                return self._send(beacon, "image/gif")
            if self.path == "/gone.jpg":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._send(self.jpeg, "image/jpeg")

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Beacon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with Haechi(home=tmp_path / "home", workers=1) as h:
            (row,) = h.capture([f"{base}/page.html"], screenshot=False, allow_private=True)
    finally:
        server.shutdown()
    media = {m["url"].rsplit("/", 1)[1]: m for m in row["media"]}
    assert (media["px.gif"]["pdq_quality"], media["px.gif"]["width"], media["px.gif"]["height"]) == (0, 1, 1)
    assert media["px.gif"]["error"] is None and media["a.jpg"]["pdq_quality"] > 50
    assert media["gone.jpg"]["error"] == f"{base}/gone.jpg: HTTP 404" and media["gone.jpg"]["http_status"] == 404
