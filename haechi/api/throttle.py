"""Throttles for the doors anyone can knock on: logins, victim PIN logins, victim submissions
(which open cases) and case creation (issue #17, medium 7).

Each attempt is counted against *two* budgets: one per account (a user name, a case number)
and one per client address, so rotating addresses does not reset an account's budget and one
account's lockout never locks the others behind the same address (a centre's NAT, a shelter's
Wi-Fi) beyond the per-address budget. Wrong passwords lock an account (``login.failures``);
the budgets are moving windows of the ``limits`` library.

Where the counts live: with ``throttle_url`` (or a Redis ``broker_url``) in Redis, shared by every
server process and host of one installation (keys are prefixed by a digest of the database
URL); otherwise in this process's memory (``haechi serve --workers N`` then gives each process
its own budget). The client address is the connection's peer — ``X-Forwarded-For`` counts only
from ``trusted_proxies`` (``haechi.api.asgi.proxy_options``) — and an IPv6 client is counted per
/64, the block one subscriber gets.

If the shared store cannot be reached, attempts are refused (fail closed) and the error logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from haechi.config import Settings
from haechi.errors import ConfigError

log = logging.getLogger("haechi.throttle")

#: budget name → limit (``limits`` notation: count per window). ``.account`` budgets key on the
#: account, ``.address`` budgets on the client address.
BUDGETS: dict[str, str] = {
    "login.address": "30 per minute",  # login attempts from one address, any accounts
    "login.failures": "5 per 15 minutes",  # wrong passwords/PINs for one account: then locked
    "victim.address": "10 per hour",  # self-service submissions (each opens a case) per address
    "cases.account": "120 per hour",  # cases one staff account opens
    "cases.address": "240 per hour",  # cases opened from one address, any accounts
}


def storage_url(settings: Settings) -> str | None:
    """Where the counters live: ``throttle_url``; else ``broker_url`` when it is Redis; else
    None (this process). ``memory://`` forces in-process counters."""
    url = settings.throttle_url or settings.broker_url
    if url and url.split(":", 1)[0] in ("redis", "rediss", "redis+unix", "memory"):
        return None if url.startswith("memory:") else url
    if settings.throttle_url:
        raise ConfigError(f"throttle_url must be a redis:// (or rediss://, memory://) URL, not {url!r}")
    return None


def client_key(host: str | None) -> str:
    """The address a budget is kept for: an IPv4 address as is, an IPv6 address's /64."""
    if not host:
        return "?"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # a test client's name, a unix socket
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Throttles:
    """The budgets of :data:`BUDGETS` in one store (Redis at ``url``, else this process).

    ``allow(budget, key)`` counts one attempt and says whether it was within the budget;
    ``exhausted`` only looks; ``forget`` clears a key (a right password clears its failures).
    Keys are case-folded: ``Alice`` and ``alice`` share a budget."""

    def __init__(self, url: str | None = None, *, namespace: str = "", budgets: dict[str, str] | None = None) -> None:
        self.shared = url is not None
        self.items: dict[str, RateLimitItem] = {name: parse(text) for name, text in (budgets or BUDGETS).items()}
        prefix = f"haechi-throttle:{namespace}" if namespace else "haechi-throttle"
        storage: Storage = MemoryStorage()
        if url:
            made = storage_from_string(url, key_prefix=prefix, wrap_exceptions=True)
            if not isinstance(made, RedisStorage):
                raise ConfigError(f"throttle_url {url!r} is not a Redis URL")
            storage = made
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def for_settings(cls, settings: Settings) -> Throttles:
        """Counters in Redis when configured (``storage_url``), namespaced per installation."""
        ns = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
        return cls(storage_url(settings), namespace=ns)

    def _item(self, budget: str) -> RateLimitItem:
        try:
            return self.items[budget]
        except KeyError:
            raise ValueError(f"unknown throttle budget {budget!r}") from None

    def allow(self, budget: str, key: str) -> bool:
        """Count one attempt on ``budget`` for ``key``; False when it is over the budget (the
        attempt is then not counted) or the store cannot be reached."""
        try:
            return self._limiter.hit(self._item(budget), budget, key.casefold())
        except (StorageError, RedisError, OSError) as exc:
            log.error("throttle store unreachable: refusing", extra={"event": "throttle_store_error",
                                                                     "error": str(exc)})
            return False

    def exhausted(self, budget: str, key: str) -> bool:
        """Whether ``key`` has no attempt left on ``budget`` (nothing is counted)."""
        try:
            return not self._limiter.test(self._item(budget), budget, key.casefold())
        except (StorageError, RedisError, OSError) as exc:
            log.error("throttle store unreachable: refusing", extra={"event": "throttle_store_error",
                                                                     "error": str(exc)})
            return True

    def forget(self, budget: str, key: str) -> None:
        """Clear ``key``'s count on ``budget``."""
        try:
            self._limiter.clear(self._item(budget), budget, key.casefold())
        except (StorageError, RedisError, OSError) as exc:
            log.error("throttle store unreachable", extra={"event": "throttle_store_error", "error": str(exc)})
