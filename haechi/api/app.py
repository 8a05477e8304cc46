"""The REST API (FastAPI): Haechi's own routes plus an HMA-compatible subset, so existing
Hasher-Matcher-Actioner clients work unchanged.

Every route but ``/status`` and the OpenAPI docs needs a bearer token; what a token may do is its
owner's role (``haechi.services.accounts.ROLES``). Bad input is a 4xx with a JSON body naming
the problem, never a 500: Haechi's typed errors map to status codes in one place.
"""


import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as FPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haechi import __version__
from haechi.app import Haechi
from haechi.errors import AlreadyExists, ConfigError, HaechiError, InputError, NotFound
from haechi.services import accounts
from haechi.services.accounts import Principal
from haechi.sources.web import FetchLimits, fetch

MAX_UPLOAD = 200 * 1024 * 1024
_bearer = HTTPBearer(auto_error=False)


class BankIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class BankUpdate(BaseModel):
    description: str | None = Field(default=None, max_length=5000)


class CaseIn(BaseModel):
    victim_ref: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=2000)


class ItemsIn(BaseModel):
    urls: list[str] = Field(min_length=1, max_length=100)


#: database ids fit a signed 64-bit integer; larger numbers are refused as input, not crashed on
DbId = Annotated[int, Field(ge=1, le=2**62)]


class NoticeIn(BaseModel):
    item_ids: list[DbId] = Field(min_length=1, max_length=1000)
    regime: str = Field(max_length=8)
    lang: str = Field(max_length=8)
    recipient: str | None = Field(default=None, max_length=320)


class FrameIn(BaseModel):
    t_s: float | None = None
    pdq: str = Field(max_length=64)
    quality: int | None = None


class HashedFileIn(BaseModel):
    kind: str = Field(default="image", pattern="^(image|video)$")
    sha256: str = Field(max_length=64)
    md5: str = Field(max_length=32)
    pdq: str | None = Field(default=None, max_length=64)
    quality: int | None = None
    frames: list[FrameIn] | None = Field(default=None, max_length=120)


class VictimIn(BaseModel):
    files: list[HashedFileIn] = Field(min_length=1, max_length=200)


class RateLimiter:
    """Token bucket per key (token or client address): lookups and logins are rate limited."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1, now)
            return True


def _csp(path: str) -> str:
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
    nosniff, no framing, no referrer, no caching) to every response. A plain ASGI middleware:
    Starlette's BaseHTTPMiddleware costs a task and a stream per request on the hot lookup path."""

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
        csp = _csp(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                                    ("X-Frame-Options", "DENY"), ("Content-Security-Policy", csp),
                                    ("Cache-Control", "no-store")):
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(haechi: Haechi, *, lookup_rate: float = 2000.0, allow_private_urls: bool = False,
               secure_cookies: bool = True) -> FastAPI:
    app = FastAPI(title="Haechi", version=__version__,
                  description="Find, evidence and take down NCII and sexual deepfakes. HMA-compatible routes "
                              "under /h, /m and /c.")
    limiter = RateLimiter(lookup_rate, int(max(10, lookup_rate)))
    submit_limiter = RateLimiter(0.2, 5)
    url_limits = FetchLimits(allow_private=allow_private_urls, max_bytes=MAX_UPLOAD)

    @app.exception_handler(HaechiError)
    def _haechi_error(_: Request, exc: HaechiError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, AlreadyExists) else \
            500 if isinstance(exc, ConfigError) else 400
        return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=status)

    @app.exception_handler(OverflowError)
    def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        # a number too large for the database (schemathesis found one through an id list)
        return JSONResponse({"error": "InputError", "message": f"number out of range: {exc}"}, status_code=400)

    @app.exception_handler(RequestValidationError)
    def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"error": "ValidationError", "message": "invalid request", "details": errors},
                            status_code=422)

    app.add_middleware(SecurityHeaders)

    def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        with haechi.db.session() as s:
            who = accounts.authenticate_token(s, creds.credentials)
        if who is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        return who

    def require(permission: str) -> Callable[..., Principal]:
        def dep(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if not who.can(permission):
                raise HTTPException(403, f"role {who.role} may not {permission}")
            if permission == "lookup" and not limiter.allow(f"u{who.user_id}"):
                raise HTTPException(429, "rate limit exceeded")
            return who

        return dep

    @app.exception_handler(HTTPException)
    def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": "HTTPError", "message": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    # -- status --------------------------------------------------------------------------------
    @app.get("/status", response_class=PlainTextResponse, tags=["hma"])
    def status() -> str:
        """Liveness (HMA: ``I-AM-ALIVE``)."""
        haechi.pdq_index()
        return "I-AM-ALIVE"

    @app.get("/api/me", tags=["accounts"])
    def me(who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
        return {"username": who.username, "role": who.role,
                "permissions": sorted(accounts.ROLES.get(who.role, frozenset()))}

    # -- hashing (HMA /h) ------------------------------------------------------------------------
    def _signals(row: dict[str, Any]) -> dict[str, Any]:
        if row.get("error"):
            raise InputError(row["path"], row["error"].split(": ", 1)[-1])
        out: dict[str, Any] = {"md5": row["md5"], "sha256": row["sha256"]}
        if row["media_type"] == "video":
            out["video_md5"] = row["md5"]
            out["vpdq"] = row.get("vpdq")
        else:
            out["pdq"] = row["pdq"]
            out["pdq_quality"] = row["pdq_quality"]
        return out

    def _hash_bytes(name: str, data: bytes) -> dict[str, Any]:
        return haechi.hash_bytes(name, data)

    def _hash_url(url: str) -> dict[str, Any]:
        res = fetch(url, url_limits, accept="image/*,video/*")
        if res.status >= 400:
            raise InputError(url, f"HTTP {res.status}")
        return _hash_bytes(url, res.body)

    async def _read_upload(upload: UploadFile) -> bytes:
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise InputError(upload.filename or "upload", f"over the upload limit of {MAX_UPLOAD} bytes")
        return data

    @app.get("/h/hash", tags=["hma"])
    def hash_url(url: Annotated[str, Query(max_length=4096)],
                 _: Annotated[Principal, Depends(require("hash"))]) -> dict[str, Any]:
        """Hash the media at ``url`` (fetched with the SSRF-safe fetcher)."""
        return _signals(_hash_url(url))

    @app.post("/h/hash", tags=["hma"])
    async def hash_upload(_: Annotated[Principal, Depends(require("hash"))],
                          file: Annotated[UploadFile | None, File()] = None,
                          photo: Annotated[UploadFile | None, File()] = None,
                          video: Annotated[UploadFile | None, File()] = None) -> dict[str, Any]:
        """Hash an uploaded file (form field ``file``, or HMA's ``photo``/``video``)."""
        upload = file or photo or video
        if upload is None:
            raise InputError("request", "no file uploaded (form field file, photo or video)")
        return _signals(_hash_bytes(upload.filename or "upload", await _read_upload(upload)))

    # -- matching (HMA /m) -----------------------------------------------------------------------
    def _banks_matching(signal_type: str, signal: str) -> list[str]:
        return sorted({m["bank"] for m in haechi.lookup(signal_type, signal)})

    @app.get("/m/lookup", tags=["hma"])
    def lookup_get(_: Annotated[Principal, Depends(require("lookup"))],
                   signal_type: Annotated[str | None, Query(max_length=32)] = None,
                   signal: Annotated[str | None, Query(max_length=200)] = None,
                   url: Annotated[str | None, Query(max_length=4096)] = None) -> Any:
        """HMA lookup: banks matching a hash (``signal_type`` + ``signal``), or each hash of ``url``."""
        if url:
            sig = _signals(_hash_url(url))
            return {t: _banks_matching(t, v) for t, v in sig.items() if t in ("pdq", "md5") and v}
        if not signal_type or not signal:
            raise InputError("request", "give signal_type and signal, or url")
        return _banks_matching(signal_type, signal)

    @app.post("/m/lookup", tags=["hma"])
    async def lookup_post(_: Annotated[Principal, Depends(require("lookup"))],
                          file: Annotated[UploadFile | None, File()] = None,
                          photo: Annotated[UploadFile | None, File()] = None,
                          video: Annotated[UploadFile | None, File()] = None) -> dict[str, list[str]]:
        """HMA lookup of an uploaded file: ``{signal_type: [bank names]}``."""
        upload = file or photo or video
        if upload is None:
            raise InputError("request", "no file uploaded (form field file, photo or video)")
        sig = _signals(_hash_bytes(upload.filename or "upload", await _read_upload(upload)))
        return {t: _banks_matching(t, v) for t, v in sig.items() if t in ("pdq", "md5") and v}

    @app.get("/m/raw_lookup", tags=["hma"])
    def raw_lookup(signal_type: Annotated[str, Query(max_length=32)], signal: Annotated[str, Query(max_length=200)],
                   _: Annotated[Principal, Depends(require("lookup"))],
                   include_distance: bool = False) -> dict[str, Any]:
        """HMA raw lookup: matching content ids (bank entry ids), optionally with distances."""
        matches = haechi.lookup(signal_type, signal)
        if include_distance:
            return {"matches": [{"content_id": m["content_id"], "distance": str(m["distance"])} for m in matches]}
        return {"matches": sorted({m["content_id"] for m in matches})}

    @app.get("/api/lookup", tags=["matching"])
    def api_lookup(signal_type: Annotated[str, Query(max_length=32)], signal: Annotated[str, Query(max_length=200)],
                   _: Annotated[Principal, Depends(require("lookup"))]) -> dict[str, Any]:
        """Haechi's lookup: every matching entry with bank, label and distance."""
        return {"matches": haechi.lookup(signal_type, signal)}

    # -- curation (HMA /c) -----------------------------------------------------------------------
    def _bank(name: str) -> dict[str, Any]:
        for b in haechi.list_banks():
            if b["name"] == name:
                return dict(b, matching_enabled_ratio=1.0)
        raise NotFound("bank", name)

    @app.get("/c/banks", tags=["hma"])
    def banks(_: Annotated[Principal, Depends(require("bank.read"))]) -> list[dict[str, Any]]:
        return [dict(b, matching_enabled_ratio=1.0) for b in haechi.list_banks()]

    @app.post("/c/banks", status_code=201, tags=["hma"])
    def create_bank(body: BankIn, _: Annotated[Principal, Depends(require("bank.write"))]) -> dict[str, Any]:
        haechi.create_bank(body.name, body.description)
        return _bank(body.name.strip())

    @app.get("/c/bank/{name}", tags=["hma"])
    def get_bank(name: str, _: Annotated[Principal, Depends(require("bank.read"))]) -> dict[str, Any]:
        return _bank(name)

    @app.get("/api/banks/{name}/signals", tags=["banks"])
    def bank_signals(name: str, _: Annotated[Principal, Depends(require("bank.read"))],
                     cursor: Annotated[str | None, Query(max_length=64)] = None,
                     limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> dict[str, Any]:
        """Synchronise a copy of a bank: signals added and entry ids removed since ``cursor``
        (none: from the start). Apply ``signals``, delete ``removed``, keep ``next_cursor``;
        ask again while ``more``. Removals include victims' withdrawals: a platform holding a
        copy must delete them. Labels are never sent."""
        return haechi.bank_changes(name, cursor, limit)

    @app.put("/c/bank/{name}", tags=["hma"])
    def update_bank(name: str, body: BankUpdate, _: Annotated[Principal, Depends(require("bank.write"))]
                    ) -> dict[str, Any]:
        if body.description is not None:
            haechi.update_bank(name, body.description)
        return _bank(name)

    @app.delete("/c/bank/{name}", tags=["hma"])
    def delete_bank(name: str, _: Annotated[Principal, Depends(require("bank.write"))]) -> dict[str, Any]:
        haechi.delete_bank(name)
        return {"deleted": name}

    @app.post("/c/bank/{name}/content", tags=["hma"])
    async def add_content(name: str, _: Annotated[Principal, Depends(require("bank.write"))],
                          file: Annotated[UploadFile | None, File()] = None,
                          photo: Annotated[UploadFile | None, File()] = None,
                          video: Annotated[UploadFile | None, File()] = None,
                          label: Annotated[str | None, Query(max_length=500)] = None) -> dict[str, Any]:
        """Add media to a bank: hashes (and encrypted features) are stored, never the media."""
        upload = file or photo or video
        if upload is None:
            raise InputError("request", "no file uploaded (form field file, photo or video)")
        data = await _read_upload(upload)
        suffix = Path(upload.filename or "upload").suffix[:10]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            (result,) = list(haechi.add_to_bank(name, [path], label=label))
        if result.error:
            raise InputError(upload.filename or "upload", result.error.split(": ", 1)[-1])
        return {"id": result.entry_ids[0] if result.entry_ids else None, "entry_ids": result.entry_ids,
                "duplicate": result.duplicate}

    @app.post("/c/bank/{name}/signal", tags=["hma"])
    def add_signal(name: str, body: dict[str, str], _: Annotated[Principal, Depends(require("bank.write"))]
                   ) -> dict[str, Any]:
        """Add hashes to a bank: ``{"pdq": "..."}`` (HMA), any of pdq, md5, sha256, vpdq."""
        if not body or len(body) > 10:
            raise InputError("body", "give one to ten {signal_type: signal} pairs")
        ids = haechi.add_signals(name, list(body.items()))
        return {"id": ids[0] if ids else None, "entry_ids": ids, "signals": body}

    # -- cases, notices, evidence, stats, jobs (what the CLI does, for integrations) ----------
    @app.get("/api/cases", tags=["cases"])
    def cases_list(_: Annotated[Principal, Depends(require("cases.read"))]) -> list[dict[str, Any]]:
        return haechi.list_cases()

    @app.post("/api/cases", status_code=201, tags=["cases"])
    def cases_create(body: CaseIn, who: Annotated[Principal, Depends(require("cases"))]) -> dict[str, Any]:
        """Open a case; the contact details are stored encrypted and never returned."""
        return haechi.create_case(victim_ref=body.victim_ref, contact=body.contact, actor=who.username)

    @app.get("/api/cases/{case_ref}", tags=["cases"])
    def cases_show(case_ref: str, _: Annotated[Principal, Depends(require("cases.read"))]) -> dict[str, Any]:
        return haechi.show_case(case_ref)

    @app.post("/api/cases/{case_ref}/items", tags=["cases"])
    def cases_add_items(case_ref: str, body: ItemsIn, who: Annotated[Principal, Depends(require("cases"))]
                        ) -> list[dict[str, Any]]:
        """Add URLs to a case: each is captured as evidence (WARC, media hashed and scanned)."""
        urls = [u for u in body.urls if u.startswith(("http://", "https://"))]
        if len(urls) != len(body.urls):
            raise InputError("urls", "only http(s) URLs can be added through the API")
        return list(haechi.add_case_items(case_ref, urls, actor=who.username, capture=True, screenshot=False,
                                          allow_private=allow_private_urls))

    @app.post("/api/notices", status_code=201, tags=["notices"])
    def notices_draft(body: NoticeIn, who: Annotated[Principal, Depends(require("cases"))]) -> dict[str, Any]:
        return haechi.draft_notice(body.item_ids, body.regime, body.lang, actor=who.username,
                                   recipient=body.recipient)

    @app.post("/api/notices/{notice_id}/approve", tags=["notices"])
    def notices_approve(notice_id: Annotated[int, FPath(ge=1, le=2**62)],
                        who: Annotated[Principal, Depends(require("cases"))]) -> dict[str, Any]:
        return haechi.approve_notice(notice_id, by=who.username)

    @app.get("/api/due", tags=["notices"])
    def notices_due(_: Annotated[Principal, Depends(require("cases.read"))],
                    within_hours: Annotated[float, Query(ge=0, le=24 * 365)] = 12.0) -> list[dict[str, Any]]:
        return haechi.due(within_hours)

    @app.get("/api/cases/{case_ref}/evidence", tags=["evidence"])
    def evidence_export(case_ref: str, who: Annotated[Principal, Depends(require("evidence"))]) -> Response:
        """The case's evidence package (zip: artefacts, custody chain, PDF report), verifiable offline."""
        return Response(haechi.evidence_package(case_ref, actor=who.username), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{case_ref}-evidence.zip"'})

    @app.get("/api/evidence/verify", tags=["evidence"])
    def evidence_verify(_: Annotated[Principal, Depends(require("evidence"))],
                        case: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
        return haechi.verify_custody(case)

    @app.get("/api/stats", tags=["stats"])
    def stats(_: Annotated[Principal, Depends(require("cases.read"))]) -> dict[str, Any]:
        """Figures a centre can publish (no personal data)."""
        return haechi.stats()

    @app.get("/api/jobs", tags=["jobs"])
    def jobs(_: Annotated[Principal, Depends(require("scan"))]) -> list[dict[str, Any]]:
        return haechi.list_jobs()

    @app.post("/api/victim/submissions", status_code=201, tags=["victim"])
    def victim_submit(body: VictimIn, request: Request) -> dict[str, Any]:
        """Victim self-service without an account: hashes made on her device (never media) open a
        case; the answer carries the case number and PIN, once. Rate limited per client."""

        client = request.client.host if request.client else "?"
        if not submit_limiter.allow(f"victim:{client}"):
            raise HTTPException(429, "too many submissions; wait a minute")
        return haechi.victim_submit([f.model_dump(exclude_none=True) for f in body.files])

    from haechi.web.routes import make_router

    app.include_router(make_router(haechi, secure_cookies=secure_cookies, login_limiter=RateLimiter(0.5, 10),
                                   allow_private_urls=allow_private_urls))
    return app
