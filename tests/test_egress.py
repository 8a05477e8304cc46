"""The screenshot browser's egress proxy, the pinned httpx transport and what a refusal tells
the caller (issue #17 high 1, low 10), without a network namespace: real sockets on loopback.
The hostile-network scenarios (redirects inward, DNS rebinding) are in tests/test_redteam.py."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from haechi.errors import InputError
from haechi.evidence.egress import REFUSED_HEADER, EgressProxy
from haechi.sources.web import PinnedTransport, check_url


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"host={self.headers.get('Host')} path={self.path} " \
               f"proxy-auth={self.headers.get('Proxy-Authorization')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: Any) -> None:
        pass


@pytest.fixture
def local() -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _raw(proxy: EgressProxy, request: bytes) -> bytes:
    port = int(proxy.server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _auth(proxy: EgressProxy) -> str:
    return f"http://{proxy.username}:{proxy.password}@{proxy.server.split('://')[1]}"


def test_refusals_tell_the_caller_nothing_about_internal_addresses(caplog: pytest.LogCaptureFixture) -> None:
    """Low 10: the caller reads "refused: not a public address"; the name's addresses are in
    the log, as fields."""
    with caplog.at_level(logging.WARNING, logger="haechi.egress"), pytest.raises(InputError) as exc:
        check_url("http://localhost:9/")
    message = str(exc.value)
    assert "refused: not a public address" in message
    assert "127.0.0.1" not in message and "::1" not in message
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "egress_refused"]
    assert record.host == "localhost" and record.port == 9  # type: ignore[attr-defined]
    assert "127.0.0.1" in record.addresses or "::1" in record.addresses  # type: ignore[attr-defined]
    with pytest.raises(InputError) as meta:
        check_url("http://169.254.169.254/latest/", allow_private=True)
    assert "refused: not a public address" in str(meta.value) and "metadata" in str(meta.value)


def test_proxy_needs_its_secret(local: int) -> None:
    with EgressProxy(allow_private=True) as proxy:
        answer = _raw(proxy, f"GET http://127.0.0.1:{local}/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 407") and b"Proxy-Authenticate: Basic" in answer
        with httpx.Client(proxy=_auth(proxy).replace(proxy.password, "wrong"), trust_env=False) as c:
            assert c.get(f"http://127.0.0.1:{local}/x").status_code == 407
        assert proxy.log.allowed == 0


def test_proxy_refuses_non_public_addresses_per_connection(local: int) -> None:
    with EgressProxy() as proxy, httpx.Client(proxy=_auth(proxy), trust_env=False) as c:
        for url in (f"http://127.0.0.1:{local}/", f"http://localhost:{local}/", "http://[::1]:9/",
                    "http://169.254.169.254/latest/meta-data/", "http://0x7f000001:9/"):
            r = c.get(url)
            assert r.status_code == 403 and r.headers[REFUSED_HEADER] == "refused", url
            assert r.text == "refused: not a public address"
        with pytest.raises(httpx.ProxyError):  # https: the CONNECT is refused the same way
            c.get(f"https://127.0.0.1:{local}/")
        answer = _raw(proxy, f"CONNECT localhost:{local} HTTP/1.1\r\nHost: localhost\r\n"
                             f"Proxy-Authorization: {_basic(proxy)}\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403")
        assert proxy.log.allowed == 0 and len(proxy.log.refused) == 7


def _basic(proxy: EgressProxy) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()


def test_proxy_forwards_to_the_checked_address_one_exchange_per_connection(local: int) -> None:
    """With the test-server switch, a local site is reached: the proxy's secret is not passed
    on, the connection is closed after the answer, and a redirect to the metadata address is
    refused when the client follows it (it is a new request through the proxy)."""
    with EgressProxy(allow_private=True) as proxy:
        idle = threading.active_count()
        with httpx.Client(proxy=_auth(proxy), trust_env=False) as c:
            r = c.get(f"http://localhost:{local}/p?q=1")  # the site says keep-alive and keeps its socket
        assert r.status_code == 200 and r.text == f"host=localhost:{local} path=/p?q=1 proxy-auth=None"
        assert r.headers["connection"] == "close"
        for _ in range(50):  # the browser closing ends the relay (not the 30 s deadline)
            if threading.active_count() <= idle:
                break
            time.sleep(0.1)
        assert threading.active_count() <= idle
    with EgressProxy(allow_private=True) as proxy, httpx.Client(proxy=_auth(proxy), trust_env=False) as c:
        followed = c.get(f"http://localhost:{local}/to-metadata", follow_redirects=True)
        assert followed.status_code == 403 and followed.headers[REFUSED_HEADER] == "refused"
        assert [h.status_code for h in followed.history] == [302]
        assert proxy.log.allowed == 1 and proxy.log.refused == ["http://169.254.169.254/latest/meta-data/"]


def test_pinned_transport_checks_every_request(local: int) -> None:
    with httpx.Client(transport=PinnedTransport(), trust_env=False) as c, pytest.raises(InputError) as exc:
        c.get(f"http://localhost:{local}/")
    assert "not a public address" in str(exc.value) and "127.0.0.1" not in str(exc.value)
    with httpx.Client(transport=PinnedTransport(allow_private=True), trust_env=False) as c:
        r = c.get(f"http://localhost:{local}/feed")
        assert r.text.startswith(f"host=localhost:{local} path=/feed")  # the name is still the Host
        with pytest.raises(InputError):  # a redirect followed is a new, checked request
            c.get(f"http://localhost:{local}/to-metadata", follow_redirects=True)


def test_connect_is_checked_then_tunnelled(local: int) -> None:
    """CONNECT (https, wss) to an approved address is a byte tunnel: what goes in comes out
    at the site (TLS would stay end to end)."""
    with EgressProxy(allow_private=True) as proxy:
        port = int(proxy.server.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"CONNECT localhost:{local} HTTP/1.1\r\nHost: localhost:{local}\r\n"
                      f"Proxy-Authorization: {_basic(proxy)}\r\n\r\n".encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            s.sendall(f"GET /in-tunnel HTTP/1.1\r\nHost: localhost:{local}\r\nConnection: close\r\n\r\n".encode())
            want, out = f"host=localhost:{local} path=/in-tunnel proxy-auth=None".encode(), b""
            while not out.endswith(want) and (chunk := s.recv(65536)):  # the site keeps the tunnel open
                out += chunk
        assert out.startswith(b"HTTP/1.1 200") and out.endswith(want)
        assert proxy.log.allowed == 1
