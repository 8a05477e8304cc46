"""Transport-level protections every response gets, kept below the routes: the upload limit,
security headers with a Content-Security-Policy per area, and reading an upload within the limit.

``SecurityHeaders`` is a plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: the
latter costs a task and a stream per request, which shows on the hot lookup path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haechi.errors import InputError

#: largest request body (and uploaded file) the API accepts, in bytes
MAX_UPLOAD = 200 * 1024 * 1024


def csp_for(path: str) -> str:
    """The Content-Security-Policy of a path: the docs page runs Swagger UI from this server only
    (``haechi.api.docs``), the web pages run only our own scripts, everything else (JSON) may load
    nothing."""
    if path.startswith("/docs"):
        return ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
    if path.startswith("/web"):
        # scripts only from our own static files (the victim page's in-browser hasher); a video
        # she selects is read from a blob: URL on her device, never uploaded
        return ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'self'; "
                "connect-src 'self'; media-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; "
                "base-uri 'none'")
    return "default-src 'none'; frame-ancestors 'none'"


#: JSON and form bodies (everything but multipart uploads): far more than any real request —
#: a victim's 200 files with video frames is a few MiB — and far less than what fills memory
MAX_BODY = 16 * 1024 * 1024
#: most JSON containers and separators (``{``, ``[``, ``,``) a non-multipart body may hold: the
#: largest real request (a victim's 200 videos × 120 frames × 4 fields) has ~100k. A byte cap
#: alone let 16 MiB of ``{},{},...`` become 5.5 million dicts (~400 MiB per request, before
#: any login or throttle; red-team review of #17 high 3)
MAX_JSON_VALUES = 250_000


class SecurityHeaders:
    """Request limits and security headers (issue #17, high 3).

    Bodies are counted *as they arrive*, chunked ones included, and stopped at the limit —
    ``MAX_UPLOAD`` for multipart uploads, ``MAX_BODY`` for everything else — so a body that
    lies about (or omits) its Content-Length is never read into memory or spooled to disk past
    it. A multipart upload to the API must authenticate (``authenticate(headers) -> bool``)
    before a byte of it is read: FastAPI parses form bodies before its dependencies run, so a
    token check in a dependency came after the spooling. Every response, errors included, gets
    the headers (CSP per area, nosniff, no framing, no referrer, no caching)."""

    def __init__(self, app: ASGIApp, authenticate: Callable[[Headers, Scope], bool] | None = None) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        limit = MAX_UPLOAD if multipart else MAX_BODY
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        if (multipart and self.authenticate is not None and not scope["path"].startswith("/web/")
                and not self.authenticate(headers, scope)):
            await JSONResponse({"error": "Unauthorized", "message": "a valid bearer token is needed"},
                               status_code=401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        csp = csp_for(scope["path"])
        started = refused = False
        seen = values = 0

        async def counted() -> Message:
            nonlocal seen, values, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if not multipart:  # JSON (or form) values: what parsing multiplies into objects
                    values += chunk.count(b",") + chunk.count(b"[") + chunk.count(b"{")
                if seen > limit or values > MAX_JSON_VALUES:  # 413 now; the app sees a client that went away
                    if not started:
                        await (_too_large(limit) if seen > limit else _too_many_values())(
                            scope, receive, send_with_headers)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if started:  # the 413 already went out: whatever the app answers after it is dropped
                    return
                started = True
                out = MutableHeaders(scope=message)
                for name, value in (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                                    ("X-Frame-Options", "DENY"), ("Content-Security-Policy", csp),
                                    ("Cache-Control", "no-store")):
                    out.setdefault(name, value)
            elif refused and message["type"] == "http.response.body":
                return
            await send(message)

        try:
            await self.app(scope, counted, send_with_headers)
        except Exception:
            if not refused:  # a body that went away mid-request after the 413 is expected
                raise


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": "TooLarge", "message": f"request body over {limit} bytes"}, status_code=413,
                        headers={"Connection": "close"})


def _too_many_values() -> JSONResponse:
    return JSONResponse({"error": "TooLarge", "message": f"request body holds over {MAX_JSON_VALUES} JSON values"},
                        status_code=413, headers={"Connection": "close"})


def parse_json(source: str, text: str | bytes) -> Any:
    """``text`` as JSON; InputError naming ``source`` when it is not JSON or nests deeper than the
    parser's recursion limit (a RecursionError was a 500: red-team review of #17 low 11)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(source, "not JSON (or nested too deep)") from None


async def read_json(request: Request) -> Any:
    """The request body as JSON (see :func:`parse_json`); every route that reads JSON by hand uses it."""
    return parse_json("body", await request.body())


async def read_upload(upload: UploadFile) -> bytes:
    """The uploaded file's bytes, refused (InputError) when over MAX_UPLOAD — a body sent
    chunked declares no length, so the middleware alone cannot stop it."""
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError(upload.filename or "upload", f"over the upload limit of {MAX_UPLOAD} bytes")
    return data


async def only_one_file(request: Request) -> None:
    """Refuse a request carrying more than one file (InputError naming them), as HMA does ("Only
    one file allowed per request"): the upload routes hash, look up or bank one file, and taking
    one of several in silence banked the second photo of a request whose caller meant the first."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return
    form = await request.form()  # parsed once: the route's parameters came from the same form
    names = [v.filename or k for k, v in form.multi_items() if isinstance(v, StarletteUploadFile)]
    if len(names) > 1:
        raise InputError("request", f"only one file per request ({len(names)} sent: {', '.join(names[:5])})")


def one_upload(*uploads: UploadFile | None) -> UploadFile:
    """The one file of a request (form field ``file``, or HMA's ``photo``/``video``)."""
    for upload in uploads:
        if upload is not None:
            return upload
    raise InputError("request", "no file uploaded (form field file, photo or video)")
