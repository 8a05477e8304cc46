"""What a route needs besides its input, as FastAPI dependencies: the Haechi instance and the
API's options (``ApiState``), who is calling (``principal``), whether they may (``require``),
rate limits, and which response shape the caller wants (``ResponseFormat``).

Routes declare these as ``Annotated`` parameters (``who: Lookup``), as the FastAPI template's
``api/deps.py`` does, so each route module is plain functions over a shared ``APIRouter`` and
no route is a closure inside ``create_app``.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from haechi.api.media import FetchGate
from haechi.api.throttle import Throttles, client_key
from haechi.app import Haechi
from haechi.errors import ConfigError
from haechi.services.accounts import Principal
from haechi.sources.web import FetchLimits

_bearer = HTTPBearer(auto_error=False)

#: response shapes of the HMA routes: ``hma`` as HMA 1.1.x (2025 on) answers, ``legacy`` as
#: Haechi answered before (HMA's older shape: ``/m/lookup`` a list of bank names, ...)
FORMATS = ("hma", "legacy")
Format = Literal["hma", "legacy"]


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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | None) -> tuple[Network, ...]:
    """``hma_trusted_networks``: comma-separated CIDRs (``10.0.0.0/8, 192.168.1.7``); a bad one
    is a ConfigError naming it, so a typo never silently trusts nothing — or everything."""
    nets: list[Network] = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"hma_trusted_networks: {part!r} is not an IP network (CIDR)") from None
    return tuple(nets)


@dataclass
class ApiState:
    """Everything the routes share, kept on ``app.state.api`` (one per ``create_app``)."""

    haechi: Haechi
    lookup_limiter: RateLimiter
    allow_private_urls: bool = False
    default_format: Format = "hma"
    trusted_networks: tuple[Network, ...] = ()
    #: login, self-service and case-creation budgets (``haechi.api.throttle``)
    throttles: Throttles = field(default_factory=Throttles)
    url_limits: FetchLimits = field(default_factory=FetchLimits)
    #: URL fetches at once in this process (``haechi.api.media.URL_FETCHES``)
    url_gate: FetchGate = field(default_factory=FetchGate)

    def trusts(self, host: str | None) -> bool:
        """Whether a request from ``host`` gets the partner role without a token."""
        if not self.trusted_networks or not host:
            return False
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_networks)


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


def client_of(request: Request) -> str:
    """The client address a per-address budget is kept for (``throttle.client_key``)."""
    return client_key(request.client.host if request.client else None)


def get_haechi(request: Request) -> Haechi:
    return get_state(request).haechi


H = Annotated[Haechi, Depends(get_haechi)]

#: a request without a token from a trusted network (``hma_trusted_networks``) acts as this
NETWORK_USER_ID = 0


def principal(request: Request, st: State,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The caller: the owner of the bearer token; without a token, the partner role when the
    client address is in ``hma_trusted_networks`` (HMA clients send no token); else 401."""
    if creds is None:
        host = request.client.host if request.client else None
        if st.trusts(host):
            return Principal(NETWORK_USER_ID, f"network:{host}", "partner")
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if creds.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    earlier = request.scope.get("state", {}).get(_CHECKED)
    fresh = bool(earlier) and earlier[0] == creds.credentials and time.monotonic() - earlier[2] <= CHECK_REUSE_SECONDS
    who = earlier[1] if fresh else authenticate_token(st.haechi, creds.credentials)
    if who is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return who


Who = Annotated[Principal, Depends(principal)]


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the caller, if their role has ``permission`` (403 otherwise); lookups are
    also rate limited per token (per client address for trusted-network callers)."""

    def dep(request: Request, who: Who, st: State) -> Principal:
        if not who.can(permission):
            raise HTTPException(403, f"role {who.role} may not {permission}")
        if permission == "lookup":
            key = f"u{who.user_id}" if who.user_id != NETWORK_USER_ID else \
                f"ip:{request.client.host if request.client else '?'}"
            if not st.lookup_limiter.allow(key):
                raise HTTPException(429, "rate limit exceeded")
        return who

    dep.__name__ = f"require_{permission.replace('.', '_')}"
    return dep


Hasher = Annotated[Principal, Depends(require("hash"))]
Lookup = Annotated[Principal, Depends(require("lookup"))]
BankRead = Annotated[Principal, Depends(require("bank.read"))]
BankWrite = Annotated[Principal, Depends(require("bank.write"))]
CasesRead = Annotated[Principal, Depends(require("cases.read"))]
CaseWork = Annotated[Principal, Depends(require("cases"))]
Evidence = Annotated[Principal, Depends(require("evidence"))]
Scan = Annotated[Principal, Depends(require("scan"))]


def response_format(request: Request, st: State,
                    format: Annotated[Format | None, Query(  # noqa: A002 - the documented query name
                        description="response shape: `hma` (HMA 1.1.x, the default) or `legacy` (Haechi's "
                                    "earlier shape); also the X-Haechi-Format header")] = None) -> Format:
    """The response shape a caller asked for: ``?format=``, else the ``X-Haechi-Format``
    header, else the server's ``hma_api_format`` setting."""
    chosen = format or request.headers.get("x-haechi-format", "").strip().lower() or st.default_format
    if chosen not in FORMATS:
        raise HTTPException(400, f"X-Haechi-Format must be one of {', '.join(FORMATS)}, not {chosen!r}")
    return chosen  # type: ignore[return-value]


ResponseFormat = Annotated[Format, Depends(response_format)]


# -- store access the facade does not offer yet ------------------------------------------------
def authenticate_token(h: Haechi, token: str) -> Principal | None:
    """The principal owning ``token`` (None: unknown, revoked or its user disabled)."""
    return h.authenticate_token(token)


#: the request state key under which :func:`upload_allowed` leaves the ``(token, principal, when)``
#: it checked, so that :func:`principal` does not look the same token up again in the same request
_CHECKED = "haechi.checked_token"
#: how long (seconds, from the check before the body was read to the route) that check stands in
#: for the route's own. The body comes in between: reused for as long as a client cares to send
#: it, a token revoked (or its user disabled) while a slow upload was being sent still banked its
#: content; past this the token is looked up again, so a revocation takes effect as before for
#: every upload but those whose body ends within this time of it
CHECK_REUSE_SECONDS = 1.0


def upload_allowed(st: ApiState, headers: Any, scope: Any) -> bool:
    """Whether an upload may be read at all (checked before a byte of it is): a valid bearer token,
    or a trusted network when configured. Which role may do what is checked later, per route.

    The principal found is kept in the request's state for :func:`principal`: one token lookup
    per upload instead of two (a quarter of a serving process's time per /h/hash, issue #21) when
    the body arrives within ``CHECK_REUSE_SECONDS``."""
    auth = str(headers.get("authorization", ""))
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        who = authenticate_token(st.haechi, token)
        if who is not None:
            scope.setdefault("state", {})[_CHECKED] = (token, who, time.monotonic())
        return who is not None
    client = scope.get("client")
    return st.trusts(client[0] if client else None)
