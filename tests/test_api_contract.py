"""The API's contract: every operation's OpenAPI document declares a typed 2xx answer (no bare
``additionalProperties: true`` object, no empty schema), and the answers the hot lookup routes
build without response validation agree with the models they declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from haechi import Haechi
from haechi.api import schemas
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.services import accounts
from haechi.signals.pdq import pdq_of


@pytest.fixture
def app_and_token(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        with h.db.session() as s:
            accounts.add_user(s, "cw", "caseworker", "correct horse battery staple")
        with h.db.session() as s:
            token = accounts.create_token(s, "cw")
        yield TestClient(create_app(h, lookup_rate=10_000)), token


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def untyped(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema that says nothing: empty, or an object with no properties whose extra keys may
    be anything. (A dict with typed values, a list of models, a union of those are typed.)"""
    schema = _resolve(spec, schema)
    if not schema:
        return True
    if "anyOf" in schema or "oneOf" in schema:
        return any(untyped(spec, s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if schema.get("type") == "array":
        return untyped(spec, schema.get("items", {}))
    if schema.get("type") == "object" or "additionalProperties" in schema:
        extra = schema.get("additionalProperties", True)
        return not schema.get("properties") and (extra is True or extra == {})
    return False


def test_every_operation_declares_a_typed_response(app_and_token: tuple[TestClient, str]) -> None:
    client, _ = app_and_token
    spec = client.app.openapi()  # type: ignore[attr-defined]
    problems, operations = [], 0
    for path, ops in spec["paths"].items():
        if path.startswith("/web"):  # HTML pages, not the API
            continue
        for method, op in ops.items():
            operations += 1
            ok = [(code, r) for code, r in op.get("responses", {}).items() if code.startswith("2")]
            if not ok:
                problems.append(f"{method.upper()} {path}: no 2xx response")
                continue
            for code, response in ok:
                content = response.get("content")
                if not content:
                    problems.append(f"{method.upper()} {path} {code}: no content")
                    continue
                for media, body in content.items():
                    if untyped(spec, body.get("schema", {})):
                        problems.append(f"{method.upper()} {path} {code} {media}: untyped {body.get('schema')}")
    assert operations >= 28 + 9  # 28 before the HMA routes of #21, 9 since
    assert problems == []


def test_the_checker_would_catch_an_untyped_answer() -> None:
    """The walker itself: a route returning ``dict[str, Any]`` is what the check must refuse."""
    from fastapi import FastAPI

    bare = FastAPI()

    @bare.get("/x")
    def x() -> dict[str, Any]:
        return {}

    spec = bare.openapi()
    schema = spec["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert untyped(spec, schema)
    assert not untyped(spec, {"type": "object", "additionalProperties": {"type": "string"}})
    spec["components"] = {"schemas": {"M": {"type": "object", "properties": {"a": {"type": "integer"}},
                                             "additionalProperties": True}}}
    assert not untyped(spec, {"type": "array", "items": {"$ref": "#/components/schemas/M"}})
    assert untyped(spec, {"anyOf": [{"$ref": "#/components/schemas/M"}, {}]})


def test_lookup_answers_match_their_declared_models(app_and_token: tuple[TestClient, str]) -> None:
    client, token = app_and_token
    auth = {"Authorization": f"Bearer {token}"}
    code = pdq_of(np.asarray(scene(12))).hash
    assert client.post("/c/banks", json={"name": "K"}, headers=auth).status_code == 201
    assert client.post("/c/bank/K/signal", json={"pdq": code, "md5": "a" * 32}, headers=auth).status_code == 200
    single = TypeAdapter(schemas.LookupResponse)
    media = TypeAdapter(schemas.MediaLookupResponse)
    raw = TypeAdapter(schemas.RawLookupResponse)
    for fmt in ("hma", "legacy"):
        q = {"signal_type": "pdq", "signal": code, "format": fmt}
        single.validate_python(client.get("/m/lookup", params=q, headers=auth).json())
        raw.validate_python(client.get("/m/raw_lookup", params=q, headers=auth).json())
        raw.validate_python(client.get("/m/raw_lookup", params={**q, "include_distance": "true"},
                                       headers=auth).json())
        import io

        buf = io.BytesIO()
        scene(12).save(buf, "PNG")
        answer = client.post("/m/lookup", params={"format": fmt}, files={"photo": ("a.png", buf.getvalue())},
                             headers=auth).json()
        media.validate_python(answer)
        assert answer["pdq"]  # found, in either shape


def test_docs_are_served_offline_from_this_server(tmp_path: Path) -> None:
    """Issue #17 low 12 / #19: /docs was blank offline (CDN) and /redoc blocked by our own CSP."""
    from fastapi.testclient import TestClient

    from haechi import Haechi
    from haechi.api.app import create_app

    with Haechi(home=tmp_path / "h", workers=1) as h:
        client = TestClient(create_app(h))
        page = client.get("/docs")
        assert page.status_code == 200 and "cdn" not in page.text and "http" not in page.text.split("<body>")[1]
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "init.js"):
            r = client.get(f"/docs/assets/{asset}")
            assert r.status_code == 200 and len(r.content) > 50, asset
        assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text[:200_000]
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert client.get("/docs/assets/../../secret.key").status_code == 404
