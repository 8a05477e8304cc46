"""Issue #17 high 3: body limits are counted as bytes arrive (a chunked body has no
Content-Length to check), and an upload is authenticated before any of it is read."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx

from haechi import Haechi
from haechi.api.security import MAX_BODY
from tests.helpers import served


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    sent = 0
    yield b'{"files": ["'
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"]}'


def test_a_chunked_body_past_the_limit_is_stopped_and_an_unauthenticated_upload_is_never_read(tmp_path: Path
                                                                                              ) -> None:
    home = tmp_path / "home"
    Haechi(home=home).close()
    with served(home) as (base, _):
        r = httpx.post(f"{base}/api/victim/submissions", content=_chunks(MAX_BODY * 2),
                       headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 413, r.text[:200]  # stopped at the limit, no login needed to be refused
        # multipart without a token: 401 before the body is read — the client sees it at once
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"POST /h/hash HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
            sock.settimeout(10)
            head = sock.recv(200)  # answered without sending the body
        assert head.startswith(b"HTTP/1.1 401"), head


def test_a_rotated_x_forwarded_for_does_not_escape_the_login_limit(tmp_path: Path) -> None:
    """Issue #17 medium 7: rotating X-Forwarded-For let 60/60 bad logins through (uvicorn trusts
    the header from 127.0.0.1 by default). Now only `trusted_proxies` are believed."""
    import re

    home = tmp_path / "home"
    Haechi(home=home).close()
    codes = []
    with served(home) as (base, _), httpx.Client(base_url=base, timeout=10) as client:
        for i in range(35):  # the address budget: 30 login attempts a minute (haechi/api/throttle.py)
            page = client.get("/web/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            # the session cookie is Secure (not sent back over http by a client): send it by hand
            cookie = page.headers["set-cookie"].split(";", 1)[0]
            r = client.post("/web/login", data={"username": f"user{i}", "password": "wrong password!", "csrf": csrf},
                            headers={"X-Forwarded-For": f"203.0.113.{i}", "Cookie": cookie})
            codes.append(r.status_code)
    assert codes.index(429) == 30, codes
