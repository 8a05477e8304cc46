"""Capture a web page as evidence: WARC of every request/response, full-page screenshot, and the
page's media, each hashed (and scanned against banks by the caller).

Evidentiary copy vs working copy (Berkeley Protocol): the WARC and screenshot are written once
into ``<home>/evidence/<yyyy-mm-dd>/<capture id>/``, made read-only, and their SHA-256 go into
the custody log; everything later works from copies.

Why it is built this way:

* One URL failing never stops the others. Each medium and style sheet is fetched and written on
  its own; whatever goes wrong (HTTP 404, a time-out, a bug) becomes that URL's row with its
  reason, and the next URL is captured.
* An artefact is committed whole or not at all: the WARC is written as ``.part`` with whole
  records appended (:class:`haechi.evidence.warc.EvidenceWarc`) and renamed at the end; if the
  capture itself fails, its folder is removed. :func:`discard` removes a capture the caller
  could not record; :func:`orphans` finds folders no custody entry covers.
* HTTP status is evidence: a 404/410/5xx page is recorded as what it is (``outcome``), and a
  page that cannot be reached now (DNS, connection, time-out) is still a capture — a WARC with
  a ``metadata`` record of the attempt — with ``outcome="unreachable"`` and the reason.
* Pages are decoded with their declared or sniffed charset (EUC-KR, Shift_JIS...) and every
  URL is requested as a browser would encode it (:mod:`haechi.sources.urls`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haechi.errors import InputError
from haechi.evidence.egress import CHROMIUM_EGRESS_ARGS, REFUSED_HEADER, EgressProxy
from haechi.evidence.warc import EvidenceWarc
from haechi.media import sniff_media_type
from haechi.sources.charset import decode_css, decode_html
from haechi.sources.html_media import MAX_STYLESHEETS, FoundMedia, extract_css, extract_page
from haechi.sources.web import REFUSED, USER_AGENT, FetchLimits, FetchResult, Unreachable, check_url, fetch

CHROMIUM = "/usr/bin/chromium"
MAX_MEDIA_PER_PAGE = 100
#: style sheets are read for their background images; a bigger one is not a style sheet we need
MAX_STYLESHEET_BYTES = 2 * 1024 * 1024
WARC_NAME = "capture.warc.gz"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
#: what a capture's outcome means for a case item found at that URL
ITEM_STATUS = {"captured": "found", "gone": "unreachable", "http_error": "unreachable", "unreachable": "unreachable",
               "failed": "unreachable"}


@dataclass
class CapturedMedia:
    url: str
    body: bytes | None
    error: str | None = None
    how: str = "page"  # how the page referenced it ("img srcset", "css style attribute", "browser loaded"...)
    status: int | None = None  # the HTTP status it was served with


@dataclass
class Resource:
    """A style sheet (or other non-media resource) fetched for the page, and how that went."""

    url: str
    kind: str
    status: int | None = None
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
    #: captured (2xx/3xx) | gone (404, 410) | http_error (other 4xx/5xx) | unreachable (DNS,
    #: connection, time-out) | failed (refused redirect, over a limit, bad encoding)
    outcome: str = "captured"
    reason: str | None = None  # why, when the outcome is not "captured"
    charset: str | None = None  # the codec the page was decoded with
    resources: list[Resource] = field(default_factory=list)

    @property
    def item_status(self) -> str:
        """The status a case item at this URL gets: ``found`` only when the page answered."""
        return ITEM_STATUS[self.outcome]


def outcome_of(status: int) -> tuple[str, str | None]:
    """(outcome, reason) of a page answered with HTTP ``status``."""
    if status < 400:
        return "captured", None
    return ("gone" if status in (404, 410) else "http_error"), f"HTTP {status}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"


def capture_page(url: str, evidence_dir: Path, captured_at: str, *, limits: FetchLimits,
                 screenshotter: Screenshotter | None = None, media_limits: FetchLimits | None = None) -> PageCapture:
    """Fetch ``url`` and its media into a new evidence folder. Never raises for a bad or
    unreachable page: the problem goes into ``error``/``outcome``/``reason``. A malformed or
    refused URL still raises InputError (before anything is created)."""
    with contextlib.suppress(Unreachable):  # an unreachable page is recorded below as an attempt
        check_url(url, limits.allow_private)  # refuse before creating anything
    folder = evidence_dir / captured_at[:10] / uuid.uuid4().hex
    folder.mkdir(parents=True)
    cap = PageCapture(url=url, captured_at=captured_at, folder=folder)
    try:
        warc = EvidenceWarc(folder / WARC_NAME, f"capture of {url} at {captured_at}")
        try:
            _capture_into(cap, warc, limits, media_limits or limits, screenshotter)
            warc.commit()
        except BaseException:
            warc.abort()
            raise
        for f in sorted(folder.iterdir()):
            cap.artefacts[f.name] = sha256_file(f)
            os.chmod(f, 0o400)  # the evidentiary copy is never modified
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return cap


def _capture_into(cap: PageCapture, warc: EvidenceWarc, limits: FetchLimits, media_limits: FetchLimits,
                  screenshotter: Screenshotter | None) -> None:
    url = cap.url
    try:
        page = fetch(url, limits, accept="text/html,application/xhtml+xml,*/*;q=0.8")
    except InputError as exc:
        cap.error, cap.reason = str(exc), exc.reason
        cap.outcome = "unreachable" if isinstance(exc, Unreachable) else "failed"
        warc.note(url, {"outcome": cap.outcome, "reason": exc.reason, "attempted-at": cap.captured_at})
        return
    try:
        warc.result(page)
    except OSError:
        raise  # the disk, not the page: the whole capture fails and is removed
    except Exception as exc:  # noqa: BLE001 - a page that cannot be recorded is this capture's error, not the batch's
        cap.error, cap.reason, cap.outcome = f"{url}: recording failed: {_why(exc)}", _why(exc), "failed"
        warc.note(url, {"outcome": cap.outcome, "reason": cap.reason, "attempted-at": cap.captured_at})
        return
    cap.final_url, cap.status = page.final_url, page.status
    cap.outcome, cap.reason = outcome_of(page.status)
    cap.page_sha256 = hashlib.sha256(page.body).hexdigest()
    found: list[FoundMedia] = []
    fetched: set[str] = set()
    if page.status < 400:
        looks_html = page.body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith((b"<!doctype", b"<html"))
        if page.content_type in _HTML_TYPES or looks_html:
            text, cap.charset = decode_html(page.body, _content_type_header(page))
            refs = extract_page(text, page.final_url, cap.charset)
            found, cap.links = list(refs.media), refs.links
            found += _stylesheet_media(cap, warc, refs.stylesheets, {m.url for m in found}, media_limits)
        elif page.content_type.startswith(("image/", "video/")) or sniff_media_type(page.body[:4096]) != "unknown":
            # a picture linked directly; CDNs often send them as application/octet-stream
            cap.media.append(CapturedMedia(page.final_url, page.body, how="the page itself", status=page.status))
            fetched.add(page.final_url)
    if screenshotter is not None:
        try:
            shot = screenshotter.render(url)
            (cap.folder / "screenshot.png").write_bytes(shot.png)
            known = {m.url for m in found} | fetched
            found += [FoundMedia(u, "browser loaded") for u in shot.media if u not in known]
        except InputError as exc:
            cap.screenshot_error = str(exc)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - a browser failure costs the screenshot, not the capture
            cap.screenshot_error = f"{url}: screenshot failed: {_why(exc)}"
    for i, ref in enumerate(m for m in found if m.url not in fetched):
        if i >= MAX_MEDIA_PER_PAGE:
            cap.media.append(CapturedMedia(ref.url, None, f"{ref.url}: not fetched: over the limit of "
                                                          f"{MAX_MEDIA_PER_PAGE} media per page", ref.how))
            continue
        cap.media.append(_fetch_medium(ref, warc, media_limits))


def _content_type_header(res: FetchResult) -> str:
    return next((v for k, v in res.headers if k.lower() == "content-type"), "")


def _fetch_medium(ref: FoundMedia, warc: EvidenceWarc, limits: FetchLimits) -> CapturedMedia:
    """One medium, fetched and written on its own: any failure is its row, never the page's."""
    try:
        res = fetch(ref.url, limits, accept="image/*,video/*,*/*;q=0.5")
        warc.result(res)
    except OSError:
        raise  # writing the WARC failed (a full disk): not this URL's fault, the capture fails
    except Exception as exc:  # noqa: BLE001 - one URL failing never stops the others; the reason is its row
        return CapturedMedia(ref.url, None, _why(exc) if isinstance(exc, InputError) else f"{ref.url}: {_why(exc)}",
                             ref.how)
    if res.status >= 400:
        return CapturedMedia(ref.url, None, f"{ref.url}: HTTP {res.status}", ref.how, res.status)
    return CapturedMedia(ref.url, res.body, how=ref.how, status=res.status)


def _stylesheet_media(cap: PageCapture, warc: EvidenceWarc, sheets: list[str], known: set[str],
                      limits: FetchLimits) -> list[FoundMedia]:
    """Background images of the page's style sheets (and the sheets they import), each sheet
    recorded in the WARC."""
    sheet_limits = FetchLimits(max_bytes=min(limits.max_bytes, MAX_STYLESHEET_BYTES), timeout_s=limits.timeout_s,
                               max_redirects=limits.max_redirects, allow_private=limits.allow_private)
    queue, seen, media = list(sheets), set(sheets), []
    while queue and len(cap.resources) < MAX_STYLESHEETS:
        sheet = queue.pop(0)
        try:
            res = fetch(sheet, sheet_limits, accept="text/css,*/*;q=0.1")
            warc.result(res)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken style sheet never stops the capture
            cap.resources.append(Resource(sheet, "stylesheet", error=_why(exc)))
            continue
        if res.status >= 400:
            cap.resources.append(Resource(sheet, "stylesheet", res.status, f"{sheet}: HTTP {res.status}"))
            continue
        cap.resources.append(Resource(sheet, "stylesheet", res.status))
        css = decode_css(res.body, _content_type_header(res), cap.charset)
        found, imports = extract_css(css, res.final_url, cap.charset or "utf-8", known)
        media += found
        for imp in imports:
            if imp not in seen:
                seen.add(imp)
                queue.append(imp)
    return media


def discard(cap: PageCapture) -> None:
    """Remove a capture's folder (read-only files included) — for a caller that could not
    record it in the custody log, so no artefact exists without its entry."""
    if cap.folder.exists():
        for f in cap.folder.iterdir():
            f.chmod(stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(cap.folder, ignore_errors=True)


def orphans(evidence_dir: Path, recorded: Iterable[str]) -> list[str]:
    """Capture folders (``<date>/<id>`` under ``evidence_dir``) and half-written files that no
    recorded capture covers: evidence without a custody entry, for ``evidence verify``."""
    known = set(recorded)
    found: list[str] = []
    if not evidence_dir.is_dir():
        return found
    for day in sorted(p for p in evidence_dir.iterdir() if p.is_dir()):
        for folder in sorted(p for p in day.iterdir() if p.is_dir()):
            rel = folder.relative_to(evidence_dir).as_posix()
            if rel not in known:
                found.append(f"{rel}: capture folder without a custody entry")
            else:
                found += [f"{rel}/{f.name}: half-written file" for f in sorted(folder.glob("*.part"))]
    return found


@dataclass
class Rendered:
    """What the browser made of a page: the screenshot and the media it actually loaded."""

    png: bytes
    media: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what the egress proxy refused while rendering


class Screenshotter:
    """Headless Chromium (Debian's, no browser download), started once for a batch of captures.

    The browser's only way to the network is Haechi's egress proxy
    (:class:`haechi.evidence.egress.EgressProxy`), which checks every connection — redirects,
    subresources, https tunnels — with the fetcher's address check and connects to the address
    it checked; Chromium resolves no name itself and has QUIC, DNS prefetch and non-proxied
    WebRTC off (:data:`~haechi.evidence.egress.CHROMIUM_EGRESS_ARGS`). A page whose own address
    the proxy refused (a redirect inward) gets no screenshot: the error says so. Downloads,
    service workers and permissions are off; each page gets a fresh context (no shared cookies
    or storage). As root, Chromium's own sandbox cannot run (``--no-sandbox``): run Haechi as an
    unprivileged user in production.
    """

    def __init__(self, limits: FetchLimits, timeout_s: float = 30.0) -> None:
        self.limits, self.timeout_s = limits, timeout_s
        self._pw: Any = None
        self._browser: Any = None
        self._proxy: EgressProxy | None = None
        self.error: str | None = None

    def __enter__(self) -> Screenshotter:
        if not Path(CHROMIUM).exists():
            self.error = f"screenshot needs Chromium at {CHROMIUM} (Debian package 'chromium')"
            return self
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        args = ["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions",
                *CHROMIUM_EGRESS_ARGS]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        try:
            self._proxy = EgressProxy(self.limits.allow_private, timeout_s=self.timeout_s).__enter__()
            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=args,
                proxy={"server": self._proxy.server, "username": self._proxy.username,
                       "password": self._proxy.password})
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
        if self._proxy is not None:
            self._proxy.__exit__()
            self._proxy = None

    def shoot(self, url: str) -> bytes:
        return self.render(url).png

    def status(self, url: str) -> int:
        """The HTTP status the browser got for ``url`` (after redirects), loading nothing else
        worth waiting for. InputError: the egress proxy refused it, or the browser failed."""
        from playwright.sync_api import Error as PlaywrightError

        if self._browser is None or self._proxy is None:
            raise InputError(url, self.error or "screenshotter not started")
        context = self._browser.new_context(accept_downloads=False, service_workers="block", user_agent=USER_AGENT)
        try:
            response = context.new_page().goto(url, wait_until="commit", timeout=self.timeout_s * 1000)
            if response is None:
                raise InputError(url, "the browser got no response")
            if response.headers.get(REFUSED_HEADER.lower()):
                raise InputError(url, REFUSED)
            return int(response.status)
        except PlaywrightError as exc:
            raise InputError(url, f"browser failed: {str(exc).splitlines()[0]}") from None
        finally:
            context.close()

    def render(self, url: str) -> Rendered:
        """Load ``url``, take a full-page screenshot and list the images and videos the page
        loaded (HTTP 2xx: a redirect is not a picture), in the order they arrived: what scripts and CSS
        fetched that the markup alone does not show. ``refused`` lists what the egress proxy
        refused for this page."""
        from playwright.sync_api import Error as PlaywrightError

        if self._browser is None or self._proxy is None:
            raise InputError(url, self.error or "screenshotter not started")
        egress = self._proxy.log
        egress.take()  # what an earlier page left behind (a late request) is not this page's
        context = self._browser.new_context(accept_downloads=False, service_workers="block",
                                            viewport={"width": 1280, "height": 900},
                                            user_agent=USER_AGENT)  # not "HeadlessChrome": see web.USER_AGENT
        try:
            page = context.new_page()
            loaded: list[str] = []

            def seen(response: Any) -> None:
                if (response.request.resource_type in ("image", "media") and 200 <= response.status < 300
                        and response.url.startswith(("http://", "https://")) and response.url not in loaded):
                    loaded.append(response.url.split("#")[0])

            page.on("response", seen)
            response = page.goto(url, wait_until="load", timeout=self.timeout_s * 1000)
            if response is not None and response.headers.get(REFUSED_HEADER.lower()):
                raise InputError(url, f"no screenshot: the page sent the browser to {response.url}: {REFUSED}")
            png = bytes(page.screenshot(full_page=True, timeout=self.timeout_s * 1000))
            return Rendered(png, loaded, refused=egress.take())
        except PlaywrightError as exc:
            raise InputError(url, f"screenshot failed: {str(exc).splitlines()[0]}") from None
        finally:
            context.close()


#: the second fetch path's request profile when no browser is available: another browser family,
#: language and header set than the fetcher's (a host that cloaks one profile rarely cloaks both)
SECOND_PROFILE = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  "Version/18.1 Mobile/15E148 Safari/604.1",
    "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8",
    "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none",
    "Upgrade-Insecure-Requests": "1",
}


def second_look(url: str, limits: FetchLimits, *, browser: bool = True) -> dict[str, Any]:
    """Ask for ``url`` again by another path, to confirm that it is gone (issue #17 medium 8):
    headless Chromium through the egress proxy (another client, TLS stack and header set than
    the fetcher), or — without Chromium, or with ``browser=False`` — the pinned fetcher with
    :data:`SECOND_PROFILE`. Returns ``{"path": "browser"|"fetcher-profile-2", "status": int |
    None, "error": str | None}``; a refusal or failure is an ``error``, never a status."""
    if browser:
        with Screenshotter(limits) as shooter:
            if shooter.error is None:
                try:
                    return {"path": "browser", "status": shooter.status(url), "error": None}
                except InputError as exc:
                    return {"path": "browser", "status": None, "error": exc.reason}
    try:
        res = fetch(url, limits, accept="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                    headers=SECOND_PROFILE)
        return {"path": "fetcher-profile-2", "status": res.status, "error": None}
    except (InputError, Unreachable) as exc:
        return {"path": "fetcher-profile-2", "status": None, "error": exc.reason}
