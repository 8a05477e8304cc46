"""Non-ASCII URLs and pages (#16): URLs are requested as a browser encodes them, pages are
decoded with their declared or sniffed charset. Inputs are generated here (Korean, Japanese,
Chinese text encoded in each legacy charset)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haechi.errors import InputError
from haechi.sources.charset import decode_css, decode_html, sniff
from haechi.sources.urls import to_uri


@pytest.mark.parametrize(("iri", "uri"), [
    ("http://h.example/data/사진.jpg", "http://h.example/data/%EC%82%AC%EC%A7%84.jpg"),
    ("http://h.example/a b/c.jpg", "http://h.example/a%20b/c.jpg"),
    ("http://h.example/%EC%82%AC%EC%A7%84.jpg", "http://h.example/%EC%82%AC%EC%A7%84.jpg"),  # never twice
    ("HTTP://H.Example/x", "http://h.example/x"),
    ("http://한국.example/", "http://xn--3e0b707e.example/"),
    ("http://bücher.example:8080/ü", "http://xn--bcher-kva.example:8080/%C3%BC"),
    ("http://h.example/a\\b", "http://h.example/a/b"),
    ("  http://h.example/a\n/b\t ", "http://h.example/a/b"),
    ("http://h.example/p?q=사진&x=1#틀", "http://h.example/p?q=%EC%82%AC%EC%A7%84&x=1#%ED%8B%80"),
    ("http://[::1]:8/ä", "http://[::1]:8/%C3%A4"),
])
def test_iris_become_the_uris_a_browser_requests(iri: str, uri: str) -> None:
    assert to_uri(iri) == uri


def test_the_query_is_encoded_in_the_page_encoding_and_the_path_in_utf8() -> None:
    # what a browser sends for <img src="/사진.jpg?q=사진"> on an EUC-KR and a Shift_JIS page
    assert to_uri("http://h.example/사진.jpg?q=사진", "euc-kr") == (
        "http://h.example/%EC%82%AC%EC%A7%84.jpg?q=" + "".join(f"%{b:02X}" for b in "사진".encode("cp949")))
    # (写 ends in the ASCII byte "^", which a browser sends as it is: test_capture_browser_urls.py)
    assert to_uri("http://h.example/?q=写真", "cp932") == "http://h.example/?q=%8E%CA%90^"
    # a character the page's encoding cannot hold is sent as &#N; (WHATWG URL standard)
    assert to_uri("http://h.example/?q=😀", "cp949") == "http://h.example/?q=%26%23128512%3B"
    # UTF-16 pages and unknown labels use UTF-8 for queries
    assert to_uri("http://h.example/?q=é", "utf-16") == "http://h.example/?q=%C3%A9"
    assert to_uri("http://h.example/?q=é", "no-such-charset") == "http://h.example/?q=%C3%A9"


def test_bad_host_names_are_typed_errors() -> None:
    with pytest.raises(InputError) as exc:
        to_uri("http://-a-.한국/")  # not a valid IDN
    assert "-a-.한국" in str(exc.value) and "host name" in str(exc.value)
    with pytest.raises(InputError):
        to_uri("http://\u0300a.example/")  # a label starting with a combining mark
    with pytest.raises(InputError):
        to_uri("http://[bad/")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=20), st.sampled_from(["utf-8", "cp949", "cp932", "gbk", "latin-1"]))
def test_every_uri_is_ascii_whatever_the_path_and_query(path: str, query: str, codec: str) -> None:
    try:
        uri = to_uri(f"http://h.example/{path}?{query}", codec)
    except InputError:
        return
    uri.encode("ascii")  # a request line and a WARC-Target-URI must be ASCII
    assert " " not in uri and "\n" not in uri


KOREAN = "<p>사진 올립니다. 게시판 자유게시판 익명 제보합니다</p><img src='/data/사진.jpg'>"
CHINESE = "<p>上传照片。这是一个论坛的帖子，请大家看看这些图片</p><img src='/照片.jpg'>"
JAPANESE = "<p>写真をアップロードします。ひらがなとカタカナ</p><img src='/写真.jpg'>"


def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>t</title></head><body>{body}</body></html>"


@pytest.mark.parametrize(("raw", "content_type", "codec"), [
    (_page(KOREAN).encode("cp949"), "text/html; charset=euc-kr", "cp949"),
    (_page(KOREAN).encode("cp949"), "text/html; charset=KS_C_5601-1987", "cp949"),
    (_page(KOREAN, "<meta charset='euc-kr'>").encode("cp949"), "text/html", "cp949"),
    (_page(KOREAN, "<meta http-equiv='Content-Type' content='text/html; charset=EUC-KR'>").encode("cp949"),
     "", "cp949"),
    (_page(JAPANESE, '<meta charset="Shift_JIS">').encode("cp932"), "text/html", "cp932"),
    (_page(JAPANESE).encode("cp932"), "text/html; charset=sjis", "cp932"),
    (b'<?xml version="1.0" encoding="euc-kr"?>' + _page(KOREAN).encode("cp949"), "", "cp949"),
    (_page(KOREAN).encode("utf-8"), "text/html", "utf-8"),
    (b"\xef\xbb\xbf" + _page(KOREAN).encode("utf-8"), "text/html; charset=euc-kr", "utf-8"),  # BOM wins
    (_page(KOREAN).encode("cp949"), "text/html", "cp949"),  # undeclared: sniffed
    (_page(JAPANESE).encode("cp932"), "text/html", "cp932"),  # undeclared: sniffed
    (_page(CHINESE).encode("gbk"), "text/html", "gb18030"),  # undeclared: sniffed
    (_page(CHINESE).encode("gbk"), "text/html; charset=gb2312", "gbk"),
    (_page(KOREAN, "<meta charset='utf-16'>").encode("utf-8"), "", "utf-8"),
    (_page(KOREAN, "<meta charset='x-no-such'>").encode("utf-8"), "text/html; charset=bogus", "utf-8"),
    (_page("plain").encode("ascii"), "text/html; charset=iso-8859-1", "cp1252"),
])
def test_pages_are_decoded_with_their_declared_or_sniffed_charset(raw: bytes, content_type: str, codec: str) -> None:
    assert sniff(raw, content_type) == codec
    text, used = decode_html(raw, content_type)
    assert used == codec and "\ufffd" not in text and not text.startswith("\ufeff")


def test_undeclared_korean_japanese_and_chinese_decode_to_their_text() -> None:
    # each language in the legacy encoding its sites use, with no declaration anywhere
    for text, codec in ((KOREAN, "cp949"), (KOREAN, "euc-kr"), (JAPANESE, "cp932"), (JAPANESE, "shift_jis"),
                        (CHINESE, "gbk"), (CHINESE, "gb2312"), (KOREAN, "utf-8"), (JAPANESE, "utf-8")):
        decoded, _ = decode_html(_page(text).encode(codec))
        assert text in decoded, (text[:10], codec)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.text(max_size=40))
def test_decoding_never_raises(raw: bytes, content_type: str) -> None:
    text, codec = decode_html(raw, content_type)
    assert isinstance(text, str) and codec


def test_style_sheets_are_decoded_by_the_css_rules() -> None:
    css = ".a{background:url('/사진.jpg')}"
    assert decode_css(b'@charset "euc-kr";' + css.encode("cp949")).endswith(css)
    assert decode_css(css.encode("cp949"), "text/css; charset=euc-kr") == css
    assert decode_css(css.encode("cp949"), "text/css", "cp949") == css  # the page's encoding
    assert decode_css(b"\xef\xbb\xbf" + css.encode(), "text/css; charset=euc-kr") == css  # BOM first
    assert decode_css(css.encode()) == css
