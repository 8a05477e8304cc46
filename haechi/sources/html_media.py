"""Find the media a web page shows: img src/srcset, video/audio/source src, poster, og:image.

The stdlib ``HTMLParser`` is used on purpose: it never raises on broken markup, keeps no DOM
(bounded memory on huge pages) and runs no script.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

MAX_MEDIA = 500
_META = {"og:image", "og:image:url", "og:image:secure_url", "og:video", "og:video:url", "twitter:image"}


class _MediaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.links: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        if tag in ("img", "video", "audio", "source", "embed") and a.get("src"):
            self.found.append(a["src"])
        if tag in ("img", "source") and a.get("srcset"):
            for candidate in a["srcset"].split(","):
                url = candidate.strip().split(" ")[0]
                if url:
                    self.found.append(url)
        if tag == "img" and a.get("data-src"):
            self.found.append(a["data-src"])
        if tag == "video" and a.get("poster"):
            self.found.append(a["poster"])
        if tag == "meta" and a.get("content") and (a.get("property") or a.get("name", "")).lower() in _META:
            self.found.append(a["content"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _absolute(base: str, ref: str) -> str | None:
    ref = ref.strip()
    if not ref or ref.startswith(("data:", "javascript:", "blob:", "mailto:", "#")):
        return None
    try:
        url = urljoin(base, ref)
        if urlsplit(url).scheme not in ("http", "https"):
            return None
    except ValueError:  # e.g. "http://[bad" — "Invalid IPv6 URL" (found by fuzz_html)
        return None
    return url.split("#")[0]


def extract(html: str, page_url: str) -> tuple[list[str], list[str]]:
    """(media URLs, link URLs) of a page, absolute, de-duplicated, in page order."""
    parser = _MediaParser()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is lenient; belt and braces
        pass
    try:
        base = urljoin(page_url, parser.base) if parser.base else page_url
    except ValueError:  # a malformed <base href>: resolve against the page itself
        base = page_url
    media: list[str] = []
    for ref in parser.found:
        url = _absolute(base, ref)
        if url and url not in media:
            media.append(url)
    links: list[str] = []
    for ref in parser.links:
        url = _absolute(base, ref)
        if url and url not in links:
            links.append(url)
    return media[:MAX_MEDIA], links
