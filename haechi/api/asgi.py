"""The ASGI app built from the environment, for ``haechi serve --workers N`` (uvicorn starts each
worker process by import string, so the app cannot be handed over as an object) and for any
other ASGI server: ``uvicorn --factory haechi.api.asgi:create``.

Each process opens its own Haechi over the same home and database and loads the persisted PDQ
index; bank changes reach every process through the database (``refresh_index``). Lookup rate
limits are kept per process (with N workers a client may make up to N times the configured
rate); login, self-service and case-creation throttles are shared through Redis when configured
(``haechi.api.throttle``).
"""

from __future__ import annotations

import socket
from typing import Any

from fastapi import FastAPI
from uvicorn import Config

from haechi.api.app import create_app
from haechi.app import Haechi
from haechi.config import Settings


def create() -> FastAPI:
    """The API over ``$HAECHI_HOME`` / ``$HAECHI_DATABASE_URL`` (and the config file); private
    URLs are fetched for /h/hash only when ``$HAECHI_ALLOW_PRIVATE_URLS`` is ``1``."""
    h = Haechi()
    h.pdq_index()  # loaded before the first request, not during it
    return create_app(h, allow_private_urls=h.settings.allow_private_urls)


def serve_processes(host: str, port: int, workers: int) -> None:
    """Run ``workers`` uvicorn processes over one listening socket.

    uvicorn's own ``workers=N`` path binds its socket with ``proto`` 0; accepted connections
    inherit it and asyncio then never sets TCP_NODELAY, so every keep-alive response waits
    ~40 ms for the client's delayed ACK (uvicorn issue #3149, open: measured here as 160 req/s
    with 2 processes against 380 with one). The socket is re-wrapped as IPPROTO_TCP first.
    """
    from uvicorn.supervisors import Multiprocess

    from haechi.config import resolve_settings

    config = Config("haechi.api.asgi:create", factory=True, workers=workers, host=host, port=port,
                    log_level="info", server_header=False, **proxy_options(resolve_settings()))
    Multiprocess(config, sockets=[tcp_listener(config)]).run()


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options: X-Forwarded-For is believed only from ``trusted_proxies``
    (uvicorn's own default trusts 127.0.0.1, so a client on the same machine could rotate the
    header past every per-address limit — issue #17 medium 7)."""
    trusted = ",".join(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or ""}


def tcp_listener(config: Config) -> socket.socket:
    """uvicorn's bound socket, re-wrapped so that it says IPPROTO_TCP (see serve_processes)."""
    bound = config.bind_socket()
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    return sock
