"""The ASGI app built from the environment, for ``haechi serve --workers N`` (uvicorn starts each
worker process by import string, so the app cannot be handed over as an object) and for any
other ASGI server: ``uvicorn --factory haechi.api.asgi:create``.

Each process opens its own Haechi over the same home and database and loads the persisted PDQ
index; bank changes reach every process through the database (``refresh_index``). Rate limits
are kept per process: with N workers a client may make up to N times the configured rate.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from haechi.api.app import create_app
from haechi.app import Haechi


def create() -> FastAPI:
    """The API over ``$HAECHI_HOME`` / ``$HAECHI_DATABASE_URL`` (and the config file); private
    URLs are fetched for /h/hash only when ``$HAECHI_ALLOW_PRIVATE_URLS`` is ``1``."""
    h = Haechi()
    h.pdq_index()  # loaded before the first request, not during it
    return create_app(h, allow_private_urls=os.environ.get("HAECHI_ALLOW_PRIVATE_URLS", "") == "1")
