"""Find every medium a web page shows, in every way pages reference media.

Why so many ways: the sites where intimate images are spread rarely use a plain ``<img src>``.
Telegram's public channel previews (t.me/s/...) show photos only as CSS ``background-image``;
forums and galleries lazy-load (``data-src``, ``data-original``, ``data-srcset``); responsive
pages list the full-size file only in ``srcset`` or ``<picture><source>``; a video shows its
``poster``; share previews name the picture in ``og:image``; boards link straight to the file.
Missing one of them means a copy is never hashed and never taken down. What a browser really
loaded while rendering is added by the capture (see ``haechi.evidence.capture``).

The stdlib ``HTMLParser`` is used on purpose: it never raises on broken markup, keeps no DOM
(bounded memory on huge pages) and runs no script. ``srcset`` is parsed as the HTML standard
says (URLs may contain commas); CSS ``url()`` and ``image-set()`` are read from ``style``
attributes, ``<style>`` elements and linked style sheets (fonts and imports are not media).
Every URL is made absolute against the page (or ``<base href>``) and encoded the way a browser
requests it (:func:`haechi.sources.urls.to_uri`), then de-duplicated in page order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from haechi.errors import InputError
from haechi.sources.urls import to_uri

MAX_MEDIA = 500
MAX_STYLESHEETS = 20
_META = {"og:image", "og:image:url", "og:image:secure_url", "og:video", "og:video:url", "og:video:secure_url",
         "twitter:image", "twitter:image:src", "twitter:player:stream", "image", "thumbnailurl", "contenturl"}
#: lazy-load attributes of common scripts (lazysizes, lazyload, jQuery lazy, WordPress, boards);
#: any other ``data-*`` attribute counts when its value names a media file
_LAZY = {"data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-full", "data-full-src",
         "data-hi-res-src", "data-large-file", "data-orig-file", "data-medium-file", "data-original-src",
         "data-actualsrc", "data-img", "data-image", "data-img-src", "data-echo", "data-bg", "data-background",
         "data-background-image", "data-bg-src", "data-poster", "data-thumb", "data-zoom-image", "data-href-image"}
_LAZY_SRCSET = {"data-srcset", "data-lazy-srcset", "data-original-set", "imagesrcset"}
_IMAGE_EXT = ("jpg", "jpeg", "jpe", "jfif", "pjpeg", "png", "apng", "gif", "webp", "avif", "heic", "heif", "bmp",
              "tif", "tiff", "jxl")
_VIDEO_EXT = ("mp4", "m4v", "mov", "webm", "mkv", "avi", "wmv", "flv", "3gp", "mpg", "mpeg", "ogv", "ts")
MEDIA_EXTENSIONS = frozenset(_IMAGE_EXT + _VIDEO_EXT)
_NOT_MEDIA_EXT = frozenset(("woff", "woff2", "ttf", "otf", "eot", "css", "js", "htc"))
_WS = " \t\n\r\f"

_CSS_COMMENT = re.compile(r"/\*.*?(\*/|\Z)", re.S)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}?", re.I)
_IMPORT = re.compile(r"""@import\s+(?:url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)|"([^"]*)"|'([^']*)')""", re.I)
_ESC = r"\\[0-9a-fA-F]{1,6}[ \t\n\r\f]?|\\."  # a CSS escape: hex digits and one optional space, or one char
_URL = re.compile(rf"""url\(\s*(?:"((?:{_ESC}|[^"\\\n])*)"|'((?:{_ESC}|[^'\\\n])*)'|((?:{_ESC}|[^\s()"'\\])*))\s*\)""",
                  re.I | re.S)
_IMAGE_SET = re.compile(r"image-set\(", re.I)
_CSS_STRING = re.compile(rf""""((?:{_ESC}|[^"\\\n])*)"|'((?:{_ESC}|[^'\\\n])*)'""", re.S)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.S)


@dataclass(frozen=True)
class FoundMedia:
    """One medium of a page: its absolute URI and how the page referenced it."""

    url: str
    how: str


@dataclass
class PageRefs:
    media: list[FoundMedia] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    stylesheets: list[str] = field(default_factory=list)


def parse_srcset(value: str) -> list[str]:
    """The URLs of a ``srcset`` value, by the HTML standard's algorithm: a URL runs to the next
    whitespace (so it may contain commas); descriptors run to a comma outside parentheses."""
    urls: list[str] = []
    pos, n = 0, len(value)
    while True:
        while pos < n and (value[pos] in _WS or value[pos] == ","):
            pos += 1
        if pos >= n:
            return urls
        start = pos
        while pos < n and value[pos] not in _WS:
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            in_parens = False
            while pos < n:
                c = value[pos]
                pos += 1
                if in_parens:
                    in_parens = c != ")"
                elif c == "(":
                    in_parens = True
                elif c == ",":
                    break
        if url:
            urls.append(url)


def _css_unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(2) if m.group(2) != "\n" else ""

    return _CSS_ESCAPE.sub(one, text)


def css_refs(css: str) -> tuple[list[str], list[str]]:
    """(image URLs, imported style sheet URLs) of CSS text, unresolved, in order. Fonts are not
    media; an ``@import`` is another sheet."""
    css = _CSS_COMMENT.sub(" ", css)
    imports = [next(g for g in m.groups() if g is not None) for m in _IMPORT.finditer(css)]
    css = _IMPORT.sub(" ", _FONT_FACE.sub(" ", css))
    found: list[tuple[int, str]] = []
    for m in _URL.finditer(css):
        found.append((m.start(), next((g for g in m.groups() if g is not None), "")))
    for m in _IMAGE_SET.finditer(css):  # image-set("a.png" 1x, "b.png" 2x): bare strings are URLs
        depth, pos = 1, m.end()
        while pos < len(css) and depth:
            depth += {"(": 1, ")": -1}.get(css[pos], 0)
            pos += 1
        for s in _CSS_STRING.finditer(css, m.end(), pos):
            found.append((s.start(), s.group(1) if s.group(1) is not None else s.group(2)))
    urls = [_css_unescape(u).strip() for _, u in sorted(found)]
    return [u for u in urls if u and _extension(u) not in _NOT_MEDIA_EXT], [_css_unescape(u) for u in imports if u]


def _extension(url: str) -> str:
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_media_url(url: str) -> bool:
    """Whether a URL's file name ends like an image or video file."""
    return _extension(url) in MEDIA_EXTENSIONS


class _MediaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (reference as written, how)
        self.links: list[str] = []
        self.sheets: list[str] = []
        self.base: str | None = None
        self._style: list[str] | None = None

    def _srcset(self, value: str, how: str) -> None:
        self.found += [(u, how) for u in parse_srcset(value)]

    def _css(self, css: str, how: str) -> None:
        urls, imports = css_refs(css)
        self.found += [(u, how) for u in urls]
        self.sheets += imports

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a: dict[str, str] = {}
        for k, v in attrs:
            a.setdefault(k.lower(), v or "")
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        if tag in ("img", "video", "audio", "source", "embed", "track") and a.get("src") and tag != "track":
            self.found.append((a["src"], f"{tag} src"))
        if tag == "input" and a.get("type", "").lower() == "image" and a.get("src"):
            self.found.append((a["src"], "input src"))
        if tag in ("img", "source") and a.get("srcset"):
            self._srcset(a["srcset"], f"{tag} srcset")
        if tag in ("video", "img") and a.get("poster"):
            self.found.append((a["poster"], f"{tag} poster"))
        if tag == "image":  # SVG <image href> / xlink:href
            ref = a.get("href") or a.get("xlink:href")
            if ref:
                self.found.append((ref, "svg image"))
        if tag == "object" and a.get("data") and is_media_url(a["data"]):
            self.found.append((a["data"], "object data"))
        if tag == "meta" and a.get("content"):
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key in _META:
                self.found.append((a["content"], f"meta {key}"))
        if tag == "link" and a.get("href"):
            rel = set(a.get("rel", "").lower().split())
            if "stylesheet" in rel and "alternate" not in rel:
                self.sheets.append(a["href"])
            elif "image_src" in rel or a.get("itemprop", "").lower() in _META or (
                    "preload" in rel and a.get("as", "").lower() in ("image", "video")):
                self.found.append((a["href"], "link " + (" ".join(sorted(rel)) or "itemprop")))
        if tag == "link" and a.get("imagesrcset"):
            self._srcset(a["imagesrcset"], "link imagesrcset")
        if tag in ("a", "area") and a.get("href"):
            self.links.append(a["href"])
            if is_media_url(a["href"]):
                self.found.append((a["href"], "link to a media file"))
        if tag in ("iframe", "frame") and a.get("src"):
            self.links.append(a["src"])
        for name, value in a.items():
            if not name.startswith("data-") or not value.strip():
                continue
            if name in _LAZY_SRCSET:
                self._srcset(value, f"lazy-load {name}")
            elif "url(" in value.lower():
                self._css(value, f"lazy-load {name}")
            elif name in _LAZY or (is_media_url(value.strip()) and len(value) < 4096):
                self.found.append((value, f"lazy-load {name}"))
        if a.get("style"):
            self._css(a["style"], "css style attribute")
        if tag == "style":
            self._style = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            self._css("".join(self._style), "css style element")
            self._style = None


def _absolute(base: str, ref: str, encoding: str) -> str | None:
    ref = ref.strip(_WS)
    if not ref or ref.lower().startswith(("data:", "javascript:", "blob:", "mailto:", "about:", "#")):
        return None
    try:
        url = to_uri(urljoin(base, ref), encoding)
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            return None
    except (ValueError, InputError):  # e.g. "http://[bad" — "Invalid IPv6 URL" (found by fuzz_html)
        return None
    return url.split("#")[0]


def _base(page_url: str, href: str | None) -> str:
    try:
        return urljoin(page_url, href) if href else page_url
    except ValueError:  # a malformed <base href>: resolve against the page itself
        return page_url


def resolve(refs: list[tuple[str, str]], base: str, encoding: str = "utf-8",
            seen: set[str] | None = None) -> list[FoundMedia]:
    """Absolute, browser-encoded and de-duplicated media of ``(reference, how)`` pairs."""
    seen = set() if seen is None else seen
    out: list[FoundMedia] = []
    for ref, how in refs:
        url = _absolute(base, ref, encoding)
        if url and url not in seen:
            seen.add(url)
            out.append(FoundMedia(url, how))
    return out


def extract_page(html: str, page_url: str, encoding: str = "utf-8") -> PageRefs:
    """Media (with how each was referenced), links and style sheets of a page. ``encoding`` is
    the page's codec: browsers encode the query part of its URLs with it."""
    parser = _MediaParser()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is lenient; belt and braces
        pass
    if parser._style is not None:  # an unclosed <style> still styles the page
        parser.handle_endtag("style")
    base = _base(page_url, parser.base)
    refs = PageRefs(media=resolve(parser.found, base, encoding)[:MAX_MEDIA])
    for ref in parser.links:
        url = _absolute(base, ref, encoding)
        if url and url not in refs.links:
            refs.links.append(url)
    for ref in parser.sheets:
        url = _absolute(base, ref, encoding)
        if url and url not in refs.stylesheets and len(refs.stylesheets) < MAX_STYLESHEETS:
            refs.stylesheets.append(url)
    return refs


def extract_css(css: str, sheet_url: str, encoding: str = "utf-8",
                seen: set[str] | None = None) -> tuple[list[FoundMedia], list[str]]:
    """(media, imported sheets) of a style sheet; its URLs are relative to the sheet itself."""
    urls, imports = css_refs(css)
    media = resolve([(u, "css style sheet") for u in urls], sheet_url, encoding, seen)
    sheets = [u for u in (_absolute(sheet_url, i, encoding) for i in imports) if u]
    return media, sheets


def extract(html: str, page_url: str, encoding: str = "utf-8") -> tuple[list[str], list[str]]:
    """(media URLs, link URLs) of a page, absolute, de-duplicated, in page order."""
    refs = extract_page(html, page_url, encoding)
    return [m.url for m in refs.media], refs.links
