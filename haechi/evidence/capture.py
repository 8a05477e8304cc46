"""Capture a web page as evidence: WARC of every request/response, full-page screenshot, and the
page's media, each hashed (and scanned against banks by the caller).

Evidentiary copy vs working copy (Berkeley Protocol): the WARC and screenshot are written once
into ``<home>/evidence/<yyyy-mm-dd>/<capture id>/``, made read-only, and their SHA-256 go into
the custody log; everything later works from copies.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from haechi import __version__
from haechi.errors import InputError
from haechi.sources.html_media import extract
from haechi.sources.web import FetchLimits, FetchResult, check_url, fetch

CHROMIUM = "/usr/bin/chromium"
MAX_MEDIA_PER_PAGE = 100
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass
class CapturedMedia:
    url: str
    body: bytes | None
    error: str | None = None


@dataclass
class PageCapture:
    url: str
    captured_at: str
    folder: Path
    final_url: str | None = None
    status: int | None = None
    artefacts: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    media: list[CapturedMedia] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    page_sha256: str | None = None  # of the page body, for de-duplicating crawls
    error: str | None = None
    screenshot_error: str | None = None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _write_exchange(writer: WARCWriter, res: FetchResult, url: str, status: int, headers: list[tuple[str, str]],
                    body: bytes, ip: str) -> None:
    path = urlsplit(url).path or "/"
    if urlsplit(url).query:
        path += "?" + urlsplit(url).query
    req = writer.create_warc_record(
        url, "request", payload=io.BytesIO(b""),
        http_headers=StatusAndHeaders(f"GET {path} HTTP/1.1", res.request_headers, is_http_request=True))
    resp = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body),
        http_headers=StatusAndHeaders(f"{status} {_reason(status)}", headers, protocol="HTTP/1.1"),
        warc_headers_dict={"WARC-IP-Address": ip})
    writer.write_record(req)
    writer.write_record(resp)


def _write_result(writer: WARCWriter, res: FetchResult) -> None:
    for hop in res.hops:
        _write_exchange(writer, res, hop.url, hop.status, hop.headers, b"", hop.ip)
    _write_exchange(writer, res, res.final_url, res.status, res.headers, res.raw_body, res.ip)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def capture_page(url: str, evidence_dir: Path, captured_at: str, *, limits: FetchLimits,
                 screenshotter: Screenshotter | None = None, media_limits: FetchLimits | None = None) -> PageCapture:
    """Fetch ``url`` and its media into a new evidence folder. Never raises for a bad page:
    the problem goes into ``error`` (a malformed or refused URL still raises InputError)."""
    check_url(url, limits.allow_private)  # refuse before creating anything
    folder = evidence_dir / captured_at[:10] / uuid.uuid4().hex
    folder.mkdir(parents=True)
    cap = PageCapture(url=url, captured_at=captured_at, folder=folder)
    warc_path = folder / "capture.warc.gz"
    with warc_path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(warc_path.name, {
            "software": f"Haechi {__version__}", "format": "WARC File Format 1.1",
            "description": f"capture of {url} at {captured_at}"}))
        try:
            page = fetch(url, limits, accept="text/html,application/xhtml+xml,*/*;q=0.8")
        except InputError as exc:
            cap.error = str(exc)
            page = None
        if page is not None:
            _write_result(writer, page)
            cap.final_url, cap.status = page.final_url, page.status
            cap.page_sha256 = hashlib.sha256(page.body).hexdigest()
            looks_html = page.body[:512].lstrip().lower().startswith((b"<!doctype", b"<html"))
            if page.content_type in _HTML_TYPES or looks_html:
                media_urls, cap.links = extract(page.body.decode("utf-8", errors="replace"), page.final_url)
            elif page.content_type.startswith(("image/", "video/")):
                media_urls = []
                cap.media.append(CapturedMedia(page.final_url, page.body))
            else:
                media_urls = []
            for murl in media_urls[:MAX_MEDIA_PER_PAGE]:
                try:
                    mres = fetch(murl, media_limits or limits, accept="image/*,video/*,*/*;q=0.5")
                except InputError as exc:
                    cap.media.append(CapturedMedia(murl, None, str(exc)))
                    continue
                _write_result(writer, mres)
                if mres.status >= 400:
                    cap.media.append(CapturedMedia(murl, None, f"{murl}: HTTP {mres.status}"))
                else:
                    cap.media.append(CapturedMedia(murl, mres.body))
    if screenshotter is not None and cap.error is None:
        try:
            png = screenshotter.shoot(url)
            (folder / "screenshot.png").write_bytes(png)
        except InputError as exc:
            cap.screenshot_error = str(exc)
    for f in sorted(folder.iterdir()):
        cap.artefacts[f.name] = sha256_file(f)
        os.chmod(f, 0o400)  # the evidentiary copy is never modified
    return cap


class Screenshotter:
    """Headless Chromium (Debian's, no browser download), started once for a batch of captures.

    Every request a page makes goes through the same address check as our fetcher
    (``route``), so a page cannot make the browser reach private addresses; downloads, service
    workers and permissions are off; each page gets a fresh context (no shared cookies or
    storage). As root, Chromium's own sandbox cannot run (``--no-sandbox``): run Haechi as an
    unprivileged user in production.
    """

    def __init__(self, limits: FetchLimits, timeout_s: float = 30.0) -> None:
        self.limits, self.timeout_s = limits, timeout_s
        self._pw: Any = None
        self._browser: Any = None
        self.error: str | None = None

    def __enter__(self) -> Screenshotter:
        if not Path(CHROMIUM).exists():
            self.error = f"screenshot needs Chromium at {CHROMIUM} (Debian package 'chromium')"
            return self
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        args = ["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        try:
            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        except PlaywrightError as exc:
            self.error = f"cannot start Chromium: {str(exc).splitlines()[0]}"
            self.__exit__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._pw is not None:
            self._pw.stop()
            self._pw = None

    def shoot(self, url: str) -> bytes:
        from playwright.sync_api import Error as PlaywrightError

        if self._browser is None:
            raise InputError(url, self.error or "screenshotter not started")
        allow_private = self.limits.allow_private

        def guard(route: Any) -> None:
            try:
                check_url(route.request.url, allow_private)
            except InputError:
                route.abort("blockedbyclient")
                return
            route.continue_()

        context = self._browser.new_context(accept_downloads=False, service_workers="block",
                                            viewport={"width": 1280, "height": 900})
        try:
            context.route("**/*", guard)
            page = context.new_page()
            page.goto(url, wait_until="load", timeout=self.timeout_s * 1000)
            return bytes(page.screenshot(full_page=True, timeout=self.timeout_s * 1000))
        except PlaywrightError as exc:
            raise InputError(url, f"screenshot failed: {str(exc).splitlines()[0]}") from None
        finally:
            context.close()
