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


def _server_rss_mib(pid: int) -> int:
    """Resident memory of a server process and its children, in MiB (Linux /proc)."""
    total = 0
    for p in [pid, *(int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total // 1024


def test_a_body_of_many_small_json_values_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    """Red-team review of #17 high 3: under the byte limit, 16 MiB of ``{},{},…`` parsed into
    5.5 million dicts — one request without a login took the server from ~140 to ~560 MiB, four
    at once to 1.4 GiB. A body holding more JSON values than any real request is refused as it
    arrives (chunked or not, with a token or without), and the server's memory stays flat."""
    import threading

    from haechi.api.security import MAX_JSON_VALUES

    home = tmp_path / "home"
    with Haechi(home=home) as h:
        h.add_user("kim", "caseworker", "correct-horse-battery")
        token = h.create_token("kim", "t")
    unit = b"{},"
    body = b'{"files":[' + unit * ((MAX_BODY - 64) // len(unit)) + b"{}]}"
    assert len(body) < MAX_BODY and body.count(b"{") > MAX_JSON_VALUES

    def chunked() -> Iterator[bytes]:
        for i in range(0, len(body), 1 << 20):
            yield body[i:i + (1 << 20)]

    with served(home) as (base, server):
        before = _server_rss_mib(server.pid)
        codes: list[int] = []

        def post(path: str, content: bytes | Iterator[bytes], auth: bool) -> None:
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if auth else {})}
            codes.append(httpx.post(f"{base}{path}", content=content, headers=headers, timeout=60).status_code)

        calls = [("/api/victim/submissions", body, False), ("/api/victim/submissions", chunked(), False),
                 ("/api/cases", body, True), ("/c/banks", chunked(), True)]
        threads = [threading.Thread(target=post, args=c) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        grown = _server_rss_mib(server.pid) - before
        assert codes == [413] * len(calls), codes
        assert grown < 100, f"server grew by {grown} MiB"
        # a real submission's worth of values still goes through
        files = [{"kind": "video", "sha256": "a" * 64, "md5": "b" * 32,
                  "frames": [{"t_s": float(i), "pdq": "c" * 64, "quality": 90} for i in range(120)]}] * 200
        r = httpx.post(f"{base}/api/victim/submissions", json={"files": files}, timeout=60)
        assert r.status_code != 413, r.text[:300]
