"""A static web server on 127.0.0.1 for the demo, tests and benchmarks: pages and media to
capture, crawl and re-check without touching the internet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serve(routes: dict[str, tuple[str, bytes]] | dict[str, tuple[int, str, bytes]]) -> Iterator[str]:
    """A web server on 127.0.0.1 answering GET ``path`` with ``(content type, body)`` (200) or
    ``(status, content type, body)``, any other path with 404; ``routes`` is read at each request,
    so a caller may change a page while it runs. Yields its base URL and shuts it down afterwards."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            found = routes.get(self.path.split("?")[0])
            status, ctype, body = (404, "text/plain", b"not found") if found is None else \
                found if len(found) == 3 else (200, *found)
            self.send_response(status)
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
