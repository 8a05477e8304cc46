"""API request bodies: no input may produce a 5xx."""
import json
import tempfile

import atheris

with atheris.instrument_imports():
    from fastapi.testclient import TestClient

    from haechi import Haechi
    from haechi.api.app import create_app
    from haechi.services import accounts

from _common import run

_home = tempfile.mkdtemp()
_h = Haechi(home=_home, workers=1)
with _h.db.session() as s:
    accounts.add_user(s, "fuzz", "caseworker", None)
with _h.db.session() as s:
    _token = accounts.create_token(s, "fuzz")
_h.create_bank("B")
_client = TestClient(create_app(_h, lookup_rate=1e9))
_auth = {"Authorization": f"Bearer {_token}", "Content-Type": "application/json"}


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
    text = fdp.ConsumeUnicodeNoSurrogates(100)
    for method, path, kwargs in (
        ("post", "/c/bank/B/signal", {"content": body}),
        ("post", "/c/banks", {"content": body}),
        ("get", "/m/lookup", {"params": {"signal_type": text[:10], "signal": text}}),
        ("get", "/m/raw_lookup", {"params": {"signal_type": "pdq", "signal": text}}),
        ("put", "/c/bank/B", {"content": body}),
    ):
        r = getattr(_client, method)(path, headers=_auth, **kwargs)
        assert r.status_code < 500, (path, r.status_code, r.text)
        json.loads(r.text) if r.headers.get("content-type", "").startswith("application/json") else None


if __name__ == "__main__":
    run(one)
