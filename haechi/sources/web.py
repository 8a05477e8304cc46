"""Fetch user-supplied URLs without becoming a tool against our own network (SSRF).

Why this shape: checking a hostname and then letting the HTTP client resolve it again leaves a
window (DNS rebinding). Here each hop resolves the name once, refuses loopback, private,
link-local, multicast, reserved and cloud-metadata addresses (unless ``allow_private``), and
then connects to *that* address, sending the original Host header and TLS server name, so what
was checked is what is contacted. Redirects are followed by hand, each hop checked the same
way. Bodies are streamed with a byte cap and a deadline.

URLs are first turned into the URI a browser sends (IDNA host, percent-encoded UTF-8 path:
:func:`haechi.sources.urls.to_uri`). A URL that cannot be reached right now (the name does not
resolve, the connection fails or times out) raises :class:`Unreachable`, so a capture can
record *that* as evidence of where the material was, apart from a URL that is refused.
Every hop keeps what went over the wire (request target and headers, status line, raw
headers, body as transferred) so the WARC can record it faithfully.

Other clients reuse the same check and pinning: :class:`PinnedTransport` (an httpx transport,
for ``haechi bank pull``, which sends a partner token) and :mod:`haechi.evidence.egress` (the
proxy every screenshot-browser connection goes through). There is one SSRF policy, here.

A refusal tells the caller only "refused: not a public address" (who asked may be a non-admin
web user: the resolved internal address is reconnaissance); the name, the addresses it resolved
to and why go to the ``haechi.egress`` log as structured fields.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from haechi.errors import InputError
from haechi.sources.urls import to_uri

log = logging.getLogger("haechi.egress")
#: what a caller is told when an address is refused (details go to the log only)
REFUSED = "refused: not a public address"
#: what captures and re-checks call themselves: an ordinary desktop browser. A fetcher that names
#: itself lets a host answer 404 to Haechi alone and keep the material up for everyone else,
#: which would turn a re-check into a false "removed" (issue #17 medium 8)
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 "
              "Safari/537.36")
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
#: cloud metadata endpoints are refused even with allow_private (which is for test servers)
_METADATA_IPS = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                 ipaddress.ip_address("100.100.100.200")}


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 50 * 1024 * 1024
    timeout_s: float = 20.0
    max_redirects: int = 5
    allow_private: bool = False


#: a redirect's body is kept (for the WARC) up to this many bytes
MAX_REDIRECT_BODY = 64 * 1024


class Unreachable(InputError):
    """The URL could not be reached now: its host does not resolve, the connection failed or
    timed out. Not a refusal: the same URL may answer later, and the attempt is evidence."""


@dataclass
class Wire:
    """One HTTP exchange as it went over the wire (bodies after transfer decoding, before
    content decoding: httpx de-chunks)."""

    request_target: bytes = b"/"
    request_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    http_version: str = "HTTP/1.1"
    reason: str = ""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False  # body cut at a limit (redirect bodies only)


@dataclass
class Hop:
    url: str
    status: int
    headers: list[tuple[str, str]]
    ip: str
    wire: Wire = field(default_factory=Wire)


@dataclass
class FetchResult:
    url: str  # as asked
    final_url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes  # content-decoded
    ip: str
    started_at: float
    hops: list[Hop] = field(default_factory=list)
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    raw_body: bytes = b""  # as transferred (what the WARC records, with its Content-Encoding)
    wire: Wire = field(default_factory=Wire)

    @property
    def content_type(self) -> str:
        for k, v in self.headers:
            if k.lower() == "content-type":
                return v.split(";")[0].strip().lower()
        return ""


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast only: no loopback, private, CGNAT, link-local (cloud metadata
    169.254.169.254 included), multicast, reserved or unspecified address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_public(ip.ipv4_mapped)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def check_url(url: str, allow_private: bool = False) -> tuple[str, str, int, str]:
    """Validate ``url``; returns (scheme, host, port, ip to connect to). Raises InputError
    (:class:`Unreachable` when the host name does not resolve)."""
    try:
        parts = urlsplit(to_uri(url))
    except ValueError as exc:
        raise InputError(url, f"malformed URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(url, f"only http and https URLs can be fetched, not {parts.scheme or 'no scheme'!r}")
    host = parts.hostname
    if not host:
        raise InputError(url, "URL has no host")
    if parts.username or parts.password:
        raise InputError(url, "URLs with credentials are refused")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError(url, "bad port") from None
    if host.lower().rstrip(".") in _METADATA_HOSTS:
        _refuse(url, host, port, [], "cloud metadata host name")
    literal = _parse_ip(host)
    if literal is not None:
        addrs = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Unreachable(url, f"cannot resolve host {host!r}: {exc}") from None
        addrs = []
        for info in infos:
            ip = _parse_ip(str(info[4][0]).split("%")[0])
            if ip is not None:
                addrs.append(ip)
        if not addrs:
            raise InputError(url, f"host {host!r} has no address")
    if any(a in _METADATA_IPS for a in addrs):
        _refuse(url, host, port, addrs, "cloud metadata address")
    if not allow_private:
        bad = [a for a in addrs if not is_public(a)]
        if bad:
            _refuse(url, host, port, addrs, "non-public address")
    return parts.scheme, host, port, str(addrs[0])


def _refuse(url: str, host: str, port: int, addrs: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
            why: str) -> NoReturn:
    """Log what was refused and why (for the operator), and tell the caller only that it was."""
    log.warning("egress refused: %s", why, extra={"event": "egress_refused", "url": url, "host": host, "port": port,
                                                  "addresses": [str(a) for a in addrs], "why": why})
    hint = ("cloud metadata is refused even with --allow-private" if why.startswith("cloud metadata")
            else "non-public addresses need --allow-private, for your own test servers only")
    raise InputError(url, f"{REFUSED} ({hint})")


def pin(request: httpx.Request, host: str, ip: str) -> None:
    """Send ``request`` (built for ``host``) to the checked address ``ip``: the URL's host
    becomes the address, the Host header stays the name, and TLS is told the name (SNI and
    certificate check) — so what was checked is what is contacted."""
    if "host" not in request.headers:
        request.headers["Host"] = request.url.netloc.decode("ascii")
    request.url = request.url.copy_with(host=ip)
    if request.url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": host}


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that checks every request's URL with :func:`check_url` (resolving the
    name once) and connects to the address it approved. Redirects are new requests, so a
    client with ``follow_redirects`` gets each hop checked too. Connections are pooled per
    address: give one client one remote site."""

    def __init__(self, allow_private: bool = False, **transport: Any) -> None:
        self.allow_private = allow_private
        self._inner = httpx.HTTPTransport(**transport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _, host, _, ip = check_url(str(request.url), self.allow_private)
        pin(request, host, ip)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def fetch(url: str, limits: FetchLimits = FetchLimits(), *, accept: str = "*/*",  # noqa: B008
          headers: dict[str, str] | None = None) -> FetchResult:
    """GET ``url`` following redirects by hand, each hop checked and pinned to its address.
    ``headers`` are sent on every hop and replace the defaults of the same name (User-Agent,
    Accept-Language...; not Host)."""
    extra = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
    started = time.time()
    deadline = time.monotonic() + limits.timeout_s
    hops: list[Hop] = []
    current = to_uri(url)
    for _ in range(limits.max_redirects + 1):
        scheme, host, port, ip = check_url(current, limits.allow_private)
        parts = urlsplit(current)
        target = urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))
        default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
        sent = {"Host": host if default_port else f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": accept,
                "Accept-Encoding": "gzip, deflate, identity"}
        sent.update(extra)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unreachable(url, f"timed out after {limits.timeout_s:.0f}s")
        try:
            with httpx.Client(timeout=httpx.Timeout(remaining), follow_redirects=False, trust_env=False) as client:
                request = client.build_request("GET", target, headers=sent)
                pin(request, host, ip)
                response = client.send(request, stream=True)
                truncated = False
                try:
                    body = bytearray()
                    redirect = response.status_code in (301, 302, 303, 307, 308)
                    for chunk in response.iter_raw():
                        body += chunk
                        if redirect and len(body) > MAX_REDIRECT_BODY:
                            del body[MAX_REDIRECT_BODY:]
                            truncated = True
                            break
                        if len(body) > limits.max_bytes:
                            raise InputError(url, f"response is over the limit of {limits.max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise Unreachable(url, f"timed out after {limits.timeout_s:.0f}s")
                finally:
                    response.close()
        except httpx.TimeoutException:
            raise Unreachable(url, f"timed out after {limits.timeout_s:.0f}s") from None
        except httpx.HTTPError as exc:
            raise Unreachable(url, f"fetch failed: {type(exc).__name__}: {exc}") from None
        resp_headers = [(k, v) for k, v in response.headers.multi_items()]
        wire = Wire(request_target=request.url.raw_path, request_headers=list(request.headers.raw),
                    http_version=response.http_version, reason=response.reason_phrase,
                    headers=list(response.headers.raw), body=bytes(body), truncated=truncated)
        hop = Hop(current, response.status_code, resp_headers, ip, wire)
        location = response.headers.get("location")
        if response.status_code in (301, 302, 303, 307, 308) and location:
            hops.append(hop)
            try:
                current = to_uri(urljoin(current, location.strip()))
            except ValueError as exc:
                raise InputError(url, f"bad redirect location {location!r}: {exc}") from None
            continue
        raw = bytes(body)
        return FetchResult(url=url, final_url=current, status=response.status_code, headers=resp_headers,
                           body=_decode(raw, response.headers.get("content-encoding", ""), url, limits.max_bytes),
                           ip=ip, started_at=started, hops=hops, request_headers=list(sent.items()), raw_body=raw,
                           wire=wire)
    raise InputError(url, f"more than {limits.max_redirects} redirects")


def _decode(raw: bytes, encoding: str, url: str, limit: int) -> bytes:
    """Undo gzip/deflate content-encoding with the same byte cap (no decompression bombs)."""
    enc = encoding.strip().lower()
    if enc not in ("gzip", "x-gzip", "deflate"):
        return raw
    d = zlib.decompressobj(wbits=47 if enc != "deflate" else 15)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error:
        try:
            out = zlib.decompressobj(-15).decompress(raw, limit + 1)
        except zlib.error as exc:
            raise InputError(url, f"bad {enc} body: {exc}") from None
    if len(out) > limit:
        raise InputError(url, f"decoded response is over the limit of {limit} bytes")
    return out
