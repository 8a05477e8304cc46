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
