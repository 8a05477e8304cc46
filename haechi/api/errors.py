"""One JSON error shape for every failure, ``{"error": type, "message": text}``, and the one
place Haechi's typed errors (``haechi.errors``) become HTTP statuses: InputError 400
(MediaAborted 422: decoding stopped at the time limit), NotFound 404, AlreadyExists 409,
RemoteError 502 (another system failed: retry later), Busy 503 with Retry-After (the hashing
pool is full), ConfigError 500. Bad input is never a 500."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from haechi.errors import AlreadyExists, Busy, ConfigError, HaechiError, MediaAborted, NotFound, RemoteError


def status_of(exc: HaechiError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, AlreadyExists):
        return 409
    if isinstance(exc, RemoteError):
        return 502
    if isinstance(exc, Busy):
        return 503
    if isinstance(exc, MediaAborted):
        return 422
    if isinstance(exc, ConfigError):
        return 500
    return 400


def _haechi_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HaechiError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
    return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=status_of(exc),
                        headers=headers)


def _overflow(_: Request, exc: Exception) -> JSONResponse:
    # a number too large for the database (schemathesis found one through an id list)
    return JSONResponse({"error": "InputError", "message": f"number out of range: {exc}"}, status_code=400)


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    return JSONResponse({"error": "ValidationError", "message": "invalid request", "details": errors},
                        status_code=422)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": "HTTPError", "message": exc.detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    app.add_exception_handler(HaechiError, _haechi_error)
    app.add_exception_handler(OverflowError, _overflow)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http_error)
