"""The only way out for the screenshot browser: an HTTP proxy Haechi runs in-process, on
loopback, on an ephemeral port, with a per-browser secret, that checks every connection the
browser asks for with the fetcher's SSRF policy and connects to the address it checked.

Why a proxy and not page-level route checks: Playwright's ``route`` sees the URL a page asks
for, not the redirects Chromium follows nor the address Chromium's own resolver picks, so a page
could 302 the browser to ``169.254.169.254`` or a rebinding name could point Chromium at
127.0.0.1 after the check approved a public address (issue #17, high 1). Here each connection
is one decision in our code: resolve the name once (:func:`haechi.sources.web.check_url`),
refuse what is not public, connect to *that* address. A redirect is a new request from the
browser, so a new connection through the proxy, checked again; ``CONNECT`` (https, wss) is
checked the same way and then tunnelled (TLS stays end to end: Chromium checks the certificate
against the name).

Why a proxy and not rendering from the already-checked WARC with the network off: both need
Chromium to be held to one exit (a replay server is a proxy too), so replay is not stronger
against a browser that escapes its proxy settings; it is weaker as evidence. The fetcher
records the page, its media and style sheets, not scripts or what scripts load, so a replayed
modern page (most image hosts and forums) renders broken or empty, and the screenshot would no
longer show — nor list, for the media scan — what a visitor's browser actually loaded. The
live render behind a checked proxy keeps that, and everything it touches was checked.

How Chromium is held to the proxy (:data:`CHROMIUM_EGRESS_ARGS`): ``--proxy-server`` with
``--proxy-bypass-list=<-loopback>`` (loopback goes through the proxy too, where it is refused),
``--host-resolver-rules`` mapping every name to NOTFOUND (the browser never resolves a name
itself; only the proxy does, once), QUIC off (UDP would not go through an HTTP proxy), WebRTC
limited to proxied connections (no UDP to internal addresses), no DNS prefetch, no background
networking. The proxy answers only requests carrying its random credentials, so another local
process cannot use it as a relay; it speaks HTTP/1.1 and closes each connection after one
exchange (no keep-alive means a connection never carries a request for another host).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import secrets
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from haechi.errors import InputError
from haechi.sources.web import REFUSED, Unreachable, check_url, log

#: Chromium switches that leave the proxy as its only way to the network
CHROMIUM_EGRESS_ARGS = [
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-quic",
    "--dns-prefetch-disable",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-pings",
]
#: a header the proxy puts on its own refusals, so a refused page is never taken for the site's
REFUSED_HEADER = "X-Haechi-Egress"
MAX_HEAD = 64 * 1024
_HOP_HEADERS = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"proxy-authenticate",
                b"te", b"trailer", b"upgrade"}


@dataclass
class EgressLog:
    """What the proxy did, for the caller: the URLs it refused (and how many it let through)."""

    refused: list[str] = field(default_factory=list)
    allowed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, what: str) -> None:
        with self.lock:
            self.refused.append(what)

    def allow(self) -> None:
        with self.lock:
            self.allowed += 1

    def take(self) -> list[str]:
        """The refusals so far, forgotten here (one page's worth, not a whole batch's)."""
        with self.lock:
            out, self.refused = self.refused, []
        return out


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64  # a browser opens many connections at once (one exchange each)
    proxy: EgressProxy

    def handle_error(self, request: object, client_address: object) -> None:
        """A connection that breaks (the browser gave up, the site reset) is that connection's
        end, not a traceback on stderr."""
        log.debug("egress connection ended with an error", exc_info=True)


class EgressProxy:
    """``with EgressProxy(allow_private) as proxy:`` then give the browser ``proxy.server``,
    ``proxy.username`` and ``proxy.password``. ``allow_private`` is the fetcher's test-server
    switch (cloud metadata stays refused)."""

    def __init__(self, allow_private: bool = False, timeout_s: float = 30.0) -> None:
        self.allow_private, self.timeout_s = allow_private, timeout_s
        self.username = "haechi"
        self.password = secrets.token_urlsafe(24)
        self._expected = b"Basic " + base64.b64encode(f"{self.username}:{self.password}".encode())
        self.log = EgressLog()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> str:
        if self._server is None:
            raise RuntimeError("egress proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> EgressProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="haechi-egress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def authorised(self, value: bytes | None) -> bool:
        return value is not None and hmac.compare_digest(value.strip(), self._expected)

    def connect(self, url: str) -> tuple[socket.socket, str]:
        """Check ``url`` (one resolution) and open a TCP connection to the address approved.
        Raises InputError (refused or malformed) or :class:`Unreachable`."""
        _, host, port, ip = check_url(url, self.allow_private)
        try:
            sock = socket.create_connection((ip, port), timeout=min(self.timeout_s, 15.0))
        except OSError as exc:
            raise Unreachable(url, f"cannot connect: {exc.strerror or exc}") from None
        return sock, host


def _read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes] | None:
    """Read up to the end of an HTTP head; returns (head, bytes already read past it)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD or time.monotonic() > deadline:
            return None
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def _headers(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    out = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if sep:
            out.append((name.strip(), value.strip()))
    return out


class _Handler(socketserver.BaseRequestHandler):
    """One client connection, one exchange: check, connect to the checked address, relay."""

    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        client: socket.socket = self.request
        deadline = time.monotonic() + proxy.timeout_s
        got = _read_head(client, deadline)
        if got is None:
            return
        head, rest = got
        request_line, *header_lines = head.split(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ")
        except ValueError:
            return self._answer(400, "bad request line")
        headers = _headers(header_lines)
        if not proxy.authorised(next((v for k, v in headers if k.lower() == b"proxy-authorization"), None)):
            return self._answer(407, "proxy authentication required",
                                [("Proxy-Authenticate", 'Basic realm="haechi-egress"')])
        if method == "CONNECT":
            url = f"https://{target}/"
        elif target.startswith("http://"):
            url = target
        else:  # origin-form or https:// in absolute form: not something a browser asks a proxy
            return self._answer(400, "the egress proxy takes http:// URLs and CONNECT only")
        try:
            upstream, _ = proxy.connect(url)
        except Unreachable as exc:
            return self._answer(502, f"unreachable: {exc.reason}")
        except InputError:
            proxy.log.refuse(url if method != "CONNECT" else f"CONNECT {target}")
            return self._answer(403, REFUSED, [(REFUSED_HEADER, "refused")])
        proxy.log.allow()
        with upstream:
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                _relay(client, upstream, deadline)
                return
            self._forward(method, url, version, headers, rest, upstream, deadline)

    def _forward(self, method: str, url: str, version: str, headers: list[tuple[bytes, bytes]], rest: bytes,
                 upstream: socket.socket, deadline: float) -> None:
        client: socket.socket = self.request
        if any(k.lower() == b"transfer-encoding" for k, _ in headers):
            return self._answer(411, "request bodies need a Content-Length")
        length = next((v for k, v in headers if k.lower() == b"content-length"), b"0")
        try:
            todo = int(length) - len(rest)
        except ValueError:
            return self._answer(400, "bad Content-Length")
        parts = urlsplit(url)
        if not parts.netloc.isascii():
            return self._answer(400, "the host must be sent IDNA-encoded")
        origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        out = [f"{method} {origin_form} {version}".encode("latin-1"), b"Host: " + parts.netloc.encode("ascii")]
        out += [k + b": " + v for k, v in headers if k.lower() not in _HOP_HEADERS and k.lower() != b"host"]
        out.append(b"Connection: close")
        upstream.sendall(b"\r\n".join(out) + b"\r\n\r\n" + rest)
        while todo > 0 and time.monotonic() < deadline:
            client.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = client.recv(min(todo, 65536))
            if not chunk:
                return
            upstream.sendall(chunk)
            todo -= len(chunk)
        got = _read_head(upstream, deadline)
        if got is None:
            return self._answer(502, "the site sent no HTTP answer")
        head, body = got
        status_line, *lines = head.split(b"\r\n")
        kept = [k + b": " + v for k, v in _headers(lines) if k.lower() not in _HOP_HEADERS]
        client.sendall(b"\r\n".join([status_line, *kept, b"Connection: close", b"Proxy-Connection: close"])
                       + b"\r\n\r\n" + body)
        _relay(upstream, client, deadline, one_way=True)

    def _answer(self, status: int, text: str, extra: list[tuple[str, str]] | None = None) -> None:
        body = text.encode()
        reason = {400: "Bad Request", 403: "Forbidden", 407: "Proxy Authentication Required", 411: "Length Required",
                  502: "Bad Gateway"}[status]
        lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain; charset=utf-8",
                 f"Content-Length: {len(body)}", "Connection: close", "Proxy-Connection: close",
                 *(f"{k}: {v}" for k, v in extra or [])]
        with contextlib.suppress(OSError):
            self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _relay(a: socket.socket, b: socket.socket, deadline: float, one_way: bool = False) -> None:
    """Copy bytes a→b (and b→a unless ``one_way``) until either side closes or the deadline.
    One way, what ``b`` sends is dropped (one exchange per connection), but its closing ends the
    relay, so a site that ignores ``Connection: close`` does not hold a thread to the deadline."""
    a.setblocking(False)
    b.setblocking(False)
    while time.monotonic() < deadline:
        readable, _, _ = select.select([a, b], [], [], min(1.0, max(0.0, deadline - time.monotonic())))
        for src in readable:
            try:
                data = src.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            if one_way and src is b:
                continue
            dst = b if src is a else a
            dst.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                dst.sendall(data)
            except OSError:
                return
            dst.setblocking(False)
