"""Small generators shared by the tests."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from haechi.demo.samples import scene
from haechi.demo.transforms import make_copy


def scene_jpeg(seed: int, family: str | None = None) -> bytes:
    """JPEG bytes of generated scene ``seed``, optionally as a copy made by ``family``."""
    im = scene(seed)
    if family:
        im = make_copy(im, family, seed=seed)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()



@contextmanager
def served(home: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``haechi serve`` over ``home`` on a free port, until the block ends. Its log goes to a
    file, not a pipe: a pipe nobody reads fills at 64 KB and then blocks the server's event loop."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(Path(sys.executable).with_name("haechi")), "serve", "--port", str(port),  # noqa: S603
                               *args], env=dict(os.environ, HAECHI_HOME=str(home)),
                              stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def logged() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")[-4000:]

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, logged()
            time.sleep(0.2)
        yield base, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        log.close()


#: a configured centre: notices are refused while the sender is a placeholder (issue #18)
CENTRE = {"sender_name": "Kim Ji-won", "sender_org": "Seoul Digital Sex Crime Victim Support Centre",
          "sender_email": "takedown@seoul-centre.kr", "sender_phone": "+82 2 1234 5678",
          "sender_basis": "kr_deletion_support"}


def route_server(routes: dict[str, tuple[int, str, bytes]]) -> Any:
    """:func:`haechi.demo.site.serve` with a status per route (``(status, content type, body)``)."""
    from haechi.demo.site import serve

    return serve(routes)
