"""A captured page as the capture reads it: charset sniffing, HTML and CSS media extraction
(srcset, style attributes and sheets, lazy-load, meta), URL encoding, and writing the
exchange into an evidence WARC, which must then pass ``check_warc``.

Invariants (a violation is a finding): nothing but Haechi's typed errors escapes; every media,
link and style sheet URL is an absolute http(s) URI in ASCII without a fragment, media are
unique; every WARC written is valid.
"""
import sys
import tempfile
from pathlib import Path

import atheris

import haechi  # noqa: F401 - the whole app, imported uninstrumented: instrumenting it all takes minutes
from haechi.sources.web import Wire

# re-imported under instrumentation: the modules this harness is about
_UNDER_TEST = ("haechi.sources.urls", "haechi.sources.charset", "haechi.sources.html_media", "haechi.evidence.warc")
for _name in _UNDER_TEST:
    sys.modules.pop(_name, None)
with atheris.instrument_imports():
    from haechi.evidence.warc import EvidenceWarc, check_warc
    from haechi.sources.charset import decode_html
    from haechi.sources.html_media import extract_css, extract_page, parse_srcset
    from haechi.sources.urls import to_uri

from _common import run

PAGE = to_uri("https://site.example/게시판/view?id=1")
CONTENT_TYPES = ["text/html", "text/html; charset=euc-kr", "text/html; charset=shift_jis", "text/html; charset=utf-8",
                 "text/html; charset=bogus", "application/xhtml+xml; charset=gb2312", "", "text/css"]
TMP = Path(tempfile.mkdtemp(prefix="fuzz_capture_"))


def _check(url: str) -> None:
    url.encode("ascii")
    assert url.startswith(("http://", "https://")) and "#" not in url, url


def one(data: bytes) -> None:
    ctype = CONTENT_TYPES[data[0] % len(CONTENT_TYPES)] if data else ""
    text, codec = decode_html(data, ctype)
    refs = extract_page(text, PAGE, codec)
    for url in [m.url for m in refs.media] + refs.links + refs.stylesheets:
        _check(url)
    assert len({m.url for m in refs.media}) == len(refs.media)
    media, imports = extract_css(text, "https://site.example/css/a.css", codec)
    for url in [m.url for m in media] + imports:
        _check(url)
    parse_srcset(text[:2000])
    # the exchange as the WARC records it: raw header bytes from the input, the page as body
    header_value = data[:200].replace(b"\r", b"").replace(b"\n", b"")
    length = [(b"Content-Length", b"7")] if data[:1] == b"<" else []  # a wrong one, or none
    wire = Wire(request_target=(refs.media[0].url if refs.media else PAGE).split("/", 3)[-1].encode("ascii"),
                request_headers=[(b"Host", b"site.example")],
                headers=[(b"Content-Type", ctype.encode()), (b"X-Page", header_value),
                         (b"Transfer-Encoding", b"chunked"), *length],
                body=data)
    warc = EvidenceWarc(TMP / "a.warc.gz", "fuzz")
    try:
        warc.exchange(refs.media[0].url if refs.media else "https://site.example/", 200, wire, "192.0.2.1")
        warc.commit()
    finally:
        warc.abort()
    problems = check_warc(TMP / "a.warc.gz")
    assert not problems, problems
    (TMP / "a.warc.gz").unlink()


if __name__ == "__main__":
    run(one)
