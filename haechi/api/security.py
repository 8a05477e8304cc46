"""Transport-level protections every response gets, kept below the routes: the upload limit,
security headers with a Content-Security-Policy per area, and reading an upload within the limit.

``SecurityHeaders`` is a plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: the
latter costs a task and a stream per request, which shows on the hot lookup path.
"""

from __future__ import annotations

from fastapi import UploadFile
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haechi.errors import InputError

#: largest request body (and uploaded file) the API accepts, in bytes
MAX_UPLOAD = 200 * 1024 * 1024


def csp_for(path: str) -> str:
    """The Content-Security-Policy of a path: the docs page loads Swagger UI from its CDN, the
    web pages run only our own scripts, everything else (JSON) may load nothing."""
    if path.startswith("/docs"):
        return ("default-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
                "https://fastapi.tiangolo.com")
    if path.startswith("/web"):
        # scripts only from our own static files (the victim page's in-browser hasher); a video
        # she selects is read from a blob: URL on her device, never uploaded
        return ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'self'; "
                "connect-src 'self'; media-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; "
                "base-uri 'none'")
    return "default-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    """Refuses bodies declared over MAX_UPLOAD and adds the security headers (CSP per area,
    nosniff, no framing, no referrer, no caching) to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length and length.isdigit() and int(length) > MAX_UPLOAD:
            await JSONResponse({"error": "TooLarge", "message": f"request body over {MAX_UPLOAD} bytes"},
                               status_code=413)(scope, receive, send)
            return
        csp = csp_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                                    ("X-Frame-Options", "DENY"), ("Content-Security-Policy", csp),
                                    ("Cache-Control", "no-store")):
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def read_upload(upload: UploadFile) -> bytes:
    """The uploaded file's bytes, refused (InputError) when over MAX_UPLOAD — a body sent
    chunked declares no length, so the middleware alone cannot stop it."""
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError(upload.filename or "upload", f"over the upload limit of {MAX_UPLOAD} bytes")
    return data


def one_upload(*uploads: UploadFile | None) -> UploadFile:
    """The one file of a request (form field ``file``, or HMA's ``photo``/``video``)."""
    for upload in uploads:
        if upload is not None:
            return upload
    raise InputError("request", "no file uploaded (form field file, photo or video)")
