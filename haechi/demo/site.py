"""A static web server on 127.0.0.1 for the demo, tests and benchmarks: pages and media to
capture, crawl and re-check without touching the internet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serve(routes: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    """A web server on 127.0.0.1 answering GET ``path`` with ``(content type, body)`` (200), any
    other path with 404; yields its base URL and shuts it down afterwards."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            ctype, body = routes.get(self.path.split("?")[0], ("text/plain", b"not found"))
            self.send_response(200 if self.path.split("?")[0] in routes else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
