"""Every way a page references media (#16), read from generated markup: ``srcset`` as the HTML
standard parses it, ``picture``/``source``, ``poster``, CSS backgrounds in ``style``
attributes, ``<style>`` and linked sheets, ``og:``/``twitter:`` meta, lazy-load attributes,
links to media files; absolute, browser-encoded, de-duplicated, in page order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haechi.sources.html_media import css_refs, extract, extract_css, extract_page, parse_srcset

PAGE = "https://site.example/board/view.php?id=7"


def _urls(html: str, page: str = PAGE, encoding: str = "utf-8") -> list[str]:
    return [m.url for m in extract_page(html, page, encoding).media]


@pytest.mark.parametrize(("html", "expected"), [
    # srcset: URLs may contain commas; descriptors end at a comma outside parentheses
    ('<img srcset="https://cdn.example/c_fill,w_400/a.jpg 400w, https://cdn.example/c_fill,w_800/a.jpg 800w">',
     ["https://cdn.example/c_fill,w_400/a.jpg", "https://cdn.example/c_fill,w_800/a.jpg"]),
    ('<img srcset="a.jpg,b.jpg">', ["https://site.example/board/a.jpg,b.jpg"]),
    ('<img srcset=" x1.jpg 1x ,x2.jpg 2x,,, x3.jpg">', ["https://site.example/board/x1.jpg",
                                                         "https://site.example/board/x2.jpg",
                                                         "https://site.example/board/x3.jpg"]),
    ('<picture><source type="image/avif" srcset="/p.avif 1x, /p2.avif 2x"><source srcset="/p.webp">'
     '<img src="/p.jpg"></picture>',
     ["https://site.example/p.avif", "https://site.example/p2.avif", "https://site.example/p.webp",
      "https://site.example/p.jpg"]),
    ('<video poster="/v/poster.jpg"><source src="/v/clip.mp4" type="video/mp4"></video>',
     ["https://site.example/v/poster.jpg", "https://site.example/v/clip.mp4"]),
    # t.me/s channel previews: photos only as CSS background-image in a style attribute
    ("<a class='tgme_widget_message_photo_wrap' style=\"width:480px;background-image:url('/file/1.jpg')\"></a>"
     '<i style="background: #000 URL( &quot;/file/2.jpg&quot; ) no-repeat"></i>',
     ["https://site.example/file/1.jpg", "https://site.example/file/2.jpg"]),
    ("<style>.a{background-image:url(/s/a.jpg)} /* url(/s/comment.jpg) */ .b{background:url('/s/b.png')}"
     "@font-face{font-family:x;src:url(/f/x.woff2)} .c{background-image:-webkit-image-set('/s/c1.jpg' 1x, "
     "url(/s/c2.jpg) 2x)}</style>",
     ["https://site.example/s/a.jpg", "https://site.example/s/b.png", "https://site.example/s/c1.jpg",
      "https://site.example/s/c2.jpg"]),
    ('<meta property="og:image" content="https://cdn.example/og.jpg"><meta name="twitter:image" '
     'content="/tw.jpg"><meta itemprop="image" content="/ip.jpg"><meta property="og:video" content="/v.mp4">',
     ["https://cdn.example/og.jpg", "https://site.example/tw.jpg", "https://site.example/ip.jpg",
      "https://site.example/v.mp4"]),
    # lazy-load: the real picture is only in a data- attribute
    ('<img src="/blank.gif" data-src="/l/1.jpg"><img data-original="/l/2.jpg"><img data-lazy-src="/l/3.jpg">'
     '<img data-srcset="/l/4.jpg 1x, /l/5.jpg 2x"><div data-bg="url(/l/6.jpg)"></div>'
     '<span data-whatever="/l/7.webp"></span><span data-id="12345"></span>',
     ["https://site.example/blank.gif", "https://site.example/l/1.jpg", "https://site.example/l/2.jpg",
      "https://site.example/l/3.jpg", "https://site.example/l/4.jpg", "https://site.example/l/5.jpg",
      "https://site.example/l/6.jpg", "https://site.example/l/7.webp"]),
    # links straight to media files (boards, galleries), not to other pages
    ('<a href="/up/full.JPG">full size</a><a href="/board/list.php">list</a><a href="/up/clip.mp4?dl=1">v</a>',
     ["https://site.example/up/full.JPG", "https://site.example/up/clip.mp4?dl=1"]),
    # de-duplicated in page order, fragments dropped, data:/javascript: skipped, <base href> honoured
    ('<base href="https://img.example/x/"><img src="a.jpg"><img src="a.jpg#top"><img src="data:image/png;base64,AA">'
     '<img src="javascript:alert(1)"><meta property="og:image" content="a.jpg">',
     ["https://img.example/x/a.jpg"]),
    ('<svg><image href="/svg/a.png"/><image xlink:href="/svg/b.png"/></svg><input type="image" src="/btn.png">',
     ["https://site.example/svg/a.png", "https://site.example/svg/b.png", "https://site.example/btn.png"]),
    ('<link rel="preload" as="image" href="/pre.jpg" imagesrcset="/pre2.jpg 2x"><link rel="icon" href="/i.png">',
     ["https://site.example/pre.jpg", "https://site.example/pre2.jpg"]),
    ('<noscript><img src="/ns.jpg"></noscript>', ["https://site.example/ns.jpg"]),
])
def test_every_way_a_page_references_media(html: str, expected: list[str]) -> None:
    assert _urls(html) == expected


def test_korean_urls_are_encoded_as_a_browser_sends_them() -> None:
    html = "<img src='/data/사진.jpg'><img src='/s?q=사진'><div style=\"background-image:url('/bg/배경.png')\"></div>"
    assert _urls(html, "http://board.example/view") == [
        "http://board.example/data/%EC%82%AC%EC%A7%84.jpg", "http://board.example/s?q=%EC%82%AC%EC%A7%84",
        "http://board.example/bg/%EB%B0%B0%EA%B2%BD.png"]
    # on an EUC-KR page the query is EUC-KR, the path still UTF-8 (WHATWG URL standard)
    assert _urls(html, "http://board.example/view", "cp949")[1] == "http://board.example/s?q=%BB%E7%C1%F8"


def test_style_sheets_are_listed_and_read_relative_to_themselves() -> None:
    refs = extract_page('<link rel="stylesheet" href="/css/site.css"><link rel="alternate stylesheet" href="/alt.css">'
                        '<style>@import url("/css/more.css");</style>', PAGE)
    assert refs.stylesheets == ["https://site.example/css/site.css", "https://site.example/css/more.css"]
    media, imports = extract_css("@charset 'utf-8'; @import 'deep.css'; .p{background:url(../img/p.jpg)}"
                                 ".f{src:url(x.ttf)} @font-face{src:url(/f.woff)}",
                                 "https://site.example/css/site.css")
    assert [m.url for m in media] == ["https://site.example/img/p.jpg"]
    assert imports == ["https://site.example/css/deep.css"]
    assert all(m.how == "css style sheet" for m in media)


def test_css_escapes_and_quotes_in_urls() -> None:
    urls, _ = css_refs(r""".a{background:url("a\"b.jpg")} .b{background:url(c\2c d.jpg)} .c{background:url('e\
f.jpg')}""")
    assert urls == ['a"b.jpg', "c,d.jpg", "ef.jpg"]


def test_how_each_medium_was_referenced_is_kept() -> None:
    refs = extract_page('<img src="/a.jpg"><div style="background-image:url(/b.jpg)"></div>'
                        '<img data-src="/c.jpg"><meta property="og:image" content="/d.jpg">', PAGE)
    assert [m.how for m in refs.media] == ["img src", "css style attribute", "lazy-load data-src", "meta og:image"]


def test_extract_keeps_its_two_lists() -> None:
    media, links = extract('<img src="/a.jpg"><a href="/next">n</a><a href="/b.png">b</a>', PAGE)
    assert media == ["https://site.example/a.jpg", "https://site.example/b.png"]
    assert links == ["https://site.example/next", "https://site.example/b.png"]


_URL_PART = st.text(alphabet="abcxyz019_-,.~!$'()*+;=:@%사진", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(",") and not s.endswith(","))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_URL_PART, st.sampled_from(["", " 1x", " 2x", " 480w", "  1.5x "])), min_size=1, max_size=5))
def test_srcset_round_trip(candidates: list[tuple[str, str]]) -> None:
    """Any list of URLs (commas inside them included) written as a srcset is read back."""
    value = ", ".join(f"https://c.example/{u}{d}" for u, d in candidates)
    assert parse_srcset(value) == [f"https://c.example/{u}" for u, _ in candidates]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_extraction_never_raises_and_yields_absolute_ascii_uris(html: str) -> None:
    refs = extract_page(html, PAGE)
    for url in [m.url for m in refs.media] + refs.links + refs.stylesheets:
        url.encode("ascii")
        assert url.startswith(("http://", "https://")) and "#" not in url
    assert len({m.url for m in refs.media}) == len(refs.media)
