"""The REST API (FastAPI): Haechi's own routes plus HMA's (``/status``, ``/h``, ``/m``, ``/c``),
so Hasher-Matcher-Actioner clients work unchanged.

Every route but ``/status``, ``/status/live``, the victim's submission and the OpenAPI docs needs
a bearer token (or, only when configured, a request from an ``hma_trusted_networks`` address);
what a caller may do is its role (``haechi.services.accounts.ROLES``). Bad input is a 4xx with a
JSON body naming the problem, never a 500 (``api/errors.py``).

The layout follows HMA's blueprints and the FastAPI template: ``deps.py`` (caller, permissions,
rate limits, response shape), ``schemas.py`` (every request and response model),
``security.py`` (headers, body limits), ``routes/`` (one module per area). This module only
assembles them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from haechi import __version__
from haechi.api import docs, errors
from haechi.api.deps import FORMATS, ApiState, Format, RateLimiter, parse_networks, upload_allowed
from haechi.api.routes import accounts, banks, cases, curation, evidence, hma, jobs, victim
from haechi.api.security import MAX_UPLOAD, SecurityHeaders
from haechi.api.throttle import Throttles
from haechi.app import Haechi
from haechi.errors import ConfigError
from haechi.sources.web import FetchLimits

__all__ = ["MAX_UPLOAD", "RateLimiter", "SecurityHeaders", "create_app"]


def create_app(haechi: Haechi, *, lookup_rate: float = 2000.0, allow_private_urls: bool = False,
               secure_cookies: bool = True, throttles: Throttles | None = None) -> FastAPI:
    """The API over ``haechi``: lookups limited to ``lookup_rate`` per second per token; URLs
    resolving to private addresses fetched only with ``allow_private_urls`` (test servers);
    logins, self-service and case creation counted by ``throttles`` (default: from the
    settings — Redis when configured, see ``haechi.api.throttle``)."""
    settings = haechi.settings
    default_format = getattr(settings, "hma_api_format", "hma")
    if default_format not in FORMATS:
        raise ConfigError(f"hma_api_format must be one of {', '.join(FORMATS)}, not {default_format!r}")
    fmt: Format = "legacy" if default_format == "legacy" else "hma"
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        haechi.stop_hash_pool()  # the hashing pool starts on the first upload, stops with the app

    app = FastAPI(title="Haechi", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Find, evidence and take down NCII and sexual deepfakes. HMA-compatible routes "
                              "under /h, /m and /c (`?format=legacy` for Haechi's earlier shapes).")
    throttles = throttles or Throttles.for_settings(settings)
    app.state.api = ApiState(
        haechi=haechi, lookup_limiter=RateLimiter(lookup_rate, int(max(10, lookup_rate))),
        allow_private_urls=allow_private_urls, default_format=fmt,
        trusted_networks=parse_networks(getattr(settings, "hma_trusted_networks", None)),
        url_limits=FetchLimits(allow_private=allow_private_urls, max_bytes=MAX_UPLOAD), throttles=throttles)
    errors.install(app)
    app.add_middleware(SecurityHeaders, authenticate=partial(upload_allowed, app.state.api))
    for module in (hma, accounts, curation, banks, cases, evidence, jobs, victim):
        app.include_router(module.router)
    app.include_router(docs.router)

    from haechi.web.routes import make_router

    limit = int(getattr(settings, "review_daily_limit", 0) or 0)
    app.include_router(make_router(haechi, secure_cookies=secure_cookies, throttles=throttles,
                                   allow_private_urls=allow_private_urls, exposure_limit=limit if limit > 0 else None,
                                   four_eyes=not getattr(settings, "single_person_centre", False)))
    return app
