"""The lab server: FastAPI app factory, error mapping, security headers, worker lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelcert.errors import AccessError, ModelcertError
from modelcert.registry import Conflict, IllegalTransition, NotFound, Registry
from modelcert.web.config import LabConfig
from modelcert.web.security import install_hardening

HERE = Path(__file__).parent
log = logging.getLogger("modelcert.web")

_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _status_for(exc: ModelcertError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | IllegalTransition):
        return 409
    if isinstance(exc, AccessError):
        return 409
    return 400


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers (cheaper than ``@app.middleware``)."""

    DEFAULTS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", _PAGE_CSP.encode()),
        (b"cache-control", b"no-store"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.DEFAULTS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: LabConfig) -> FastAPI:
    """Build the app; the registry is opened (and migrated) here, the worker starts with it."""
    from modelcert.certify import load_public_key
    from modelcert.web import api, docs, pages
    from modelcert.web.worker import AuditWorker

    registry = Registry(config.db)
    public_key = load_public_key(config.public_key) if config.public_key else None
    config.audits_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = AuditWorker(registry, config) if config.worker else None
        if worker is not None:
            worker.start()
        else:
            AuditWorker(registry, config).recover()
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            registry.close()

    app = FastAPI(
        title="modelcert lab",
        version="1",
        summary="Registry, audits, certificates and public verification of an AI testing lab.",
        lifespan=lifespan,
        docs_url=None,  # served by modelcert.web.docs from local files (FastAPI's loads a CDN)
        redoc_url=None,
    )
    app.state.config = config
    app.state.registry = registry
    app.state.public_key = public_key
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.session_secret,
        session_cookie="modelcert_session",
        same_site="strict",
        https_only=False,
        max_age=8 * 3600,
    )

    @app.exception_handler(ModelcertError)
    async def modelcert_error(request: Request, exc: ModelcertError) -> Response:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        status = _status_for(exc)
        if _wants_html(request):
            return pages.error_page(request, status, message)
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_html(request):
            if exc.status_code == 401:
                from fastapi.responses import RedirectResponse

                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            return pages.error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}"
        if _wants_html(request):
            return pages.error_page(request, 422, message)
        return JSONResponse({"detail": message, "errors": jsonable(errs)}, status_code=422)

    app.add_middleware(SecurityHeaders)
    install_hardening(app, config)  # body limits, HTTPS-only cookies/HSTS, trusted proxies: outermost
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    docs.install(app)
    return app


def jsonable(obj: object) -> object:
    from fastapi.encoders import jsonable_encoder

    try:
        return jsonable_encoder(obj)
    except Exception:
        return str(obj)


def all_routes(app: FastAPI) -> list[object]:
    """Every route of the app, flattened through included routers (for the RBAC matrix)."""
    out: list[object] = []

    def walk(routes: list[object]) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(list(inner.routes))
            else:
                out.append(r)

    walk(list(app.routes))
    return out
