"""``/docs``: the interactive API description, served entirely from this server.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is blank on an offline lab
network, and its inline start-up script would be refused by our Content-Security-Policy
(``script-src 'self'``) anyway. Here the Swagger UI files come from the
``fastapi-offline`` package (which ships them) and the start-up script is a file of ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from modelcert.web.security import Principal, require

Public = Annotated[Principal, Depends(require("public"))]

ASSETS = "/docs/assets"

router = APIRouter(include_in_schema=False)

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>modelcert lab API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""

_START = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""


def assets_dir() -> Path:
    """The Swagger UI files shipped by ``fastapi-offline``."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@router.get("/docs", response_class=HTMLResponse)
async def docs_page(_: Public) -> HTMLResponse:
    return HTMLResponse(_PAGE)


@router.get("/docs/start.js")
async def docs_start(_: Public) -> Response:
    return Response(_START, media_type="text/javascript")


def install(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to ``app`` (built with ``docs_url=None``)."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
