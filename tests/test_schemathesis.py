"""Schemathesis against the app's own /openapi.json: generated requests for every operation,
as an admin (everything allowed, so the handlers themselves are exercised) — none may give a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from haechi import Haechi  # noqa: E402
from haechi.api.app import create_app  # noqa: E402
from haechi.services import accounts  # noqa: E402

_home = Path(tempfile.mkdtemp(prefix="haechi-schemathesis-"))
_h = Haechi(home=_home, workers=1)
with _h.db.session() as _s:
    accounts.add_user(_s, "admin-st", "admin", "correct horse battery staple")
    TOKEN = accounts.create_token(_s, "admin-st", "schemathesis")
_h.create_bank("seed")
APP = create_app(_h, lookup_rate=1e9)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.path, case.body, response.status_code, response.text[:300])
