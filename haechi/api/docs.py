"""``/docs``: the OpenAPI document in Swagger UI, served from this server alone.

Why: FastAPI's default page loads Swagger UI from a CDN, so it was blank offline (a centre's
network often is) and leaked every visit to a third party; its ReDoc page was blocked by our own
CSP. Swagger UI 5.31 (OpenAPI 3.1, which FastAPI writes; 4.x cannot read it) ships in
``swagger-ui-bundle-v2`` (Apache-2.0, spec-first, pinned); the page, its init
script and the assets are served under ``/docs`` with a CSP that allows exactly them (no inline
script). ReDoc has no maintained offline package on PyPI, so ``/redoc`` is not served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

#: the only files served from the bundle
ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Haechi API</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/docs/assets/init.js"></script>
</body></html>"""

INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});"""


def _bundle() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@router.get("/docs")
def docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    if name == "init.js":
        return Response(INIT, media_type="application/javascript")
    if name not in ASSETS:
        raise HTTPException(404, "no such asset")
    return FileResponse(_bundle() / name, media_type=ASSETS[name])
