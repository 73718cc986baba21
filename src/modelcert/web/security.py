"""Who is asking, and may they: bearer tokens, password sessions, roles, CSRF.

Roles, from most to least trusted: ``admin`` (also manages users), ``auditor`` (runs
audits, changes statuses), ``reviewer`` (labels the sampled answers of an audit that
validate its judge on the audited model), ``provider`` (reads its own models' audits, verdicts and
redacted evidence only), and ``public`` (anyone: registry and verification).

A request carries either ``Authorization: Bearer <token>`` (API clients; a bad token
is a 401, never a silent downgrade to public) or a signed session cookie from the
login form. Unsafe methods under a logged-in session need the session's CSRF token, as
a form field ``csrf_token`` or an ``X-CSRF-Token`` header; bearer requests carry no
ambient credentials, so they need none, and anonymous requests (public verification)
can do nothing a forger could profit from. The login form checks its token itself.

Below the roles: the login throttle (per account and per address, exponential back-off)
and the transport middleware (body limits on every route, ``Secure`` cookies and HSTS on
HTTPS, trusted-proxy headers), installed by :func:`install_hardening`.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modelcert.web.config import LabConfig

Access = Literal["public", "user", "review", "staff", "admin"]
#: Roles admitted at each access level (declared on every route, enforced here).
#: ``review``: people who label an audit's sampled answers for the judge's validation
#: (issue 23); a ``reviewer`` sees those pages and nothing else of the lab's.
LEVELS: dict[Access, frozenset[str]] = {
    "public": frozenset({"public", "provider", "reviewer", "auditor", "admin"}),
    "review": frozenset({"reviewer", "auditor", "admin"}),
    "user": frozenset({"provider", "auditor", "admin"}),
    "staff": frozenset({"auditor", "admin"}),
    "admin": frozenset({"admin"}),
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    username: str | None
    role: str
    provider_id: int | None = None
    via: Literal["token", "session", "anonymous"] = "anonymous"

    @property
    def is_staff(self) -> bool:
        return self.role in LEVELS["staff"]

    def scope(self) -> int | None:
        """The provider id a query must be limited to (None: sees every provider)."""
        return self.provider_id if self.role == "provider" else None


PUBLIC = Principal(None, "public")


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    tok = request.session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(32)
        request.session["csrf"] = tok
    return tok


async def check_csrf(request: Request) -> None:
    want = request.session.get("csrf")
    got = request.headers.get("x-csrf-token")
    if got is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        got = (await request.form()).get("csrf_token")  # Starlette caches the parsed form
    if not want or not isinstance(got, str) or not hmac.compare_digest(want, got):
        raise HTTPException(403, "missing or invalid CSRF token")


async def current_principal(request: Request) -> Principal:
    """Resolve the caller once per request (token, then session, else public)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    reg = request.app.state.registry
    auth = request.headers.get("authorization")
    principal = PUBLIC
    if auth:
        scheme, _, token = auth.partition(" ")
        user = reg.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        principal = Principal(user.username, user.role, user.provider_id, "token")
    else:
        uid = request.session.get("uid")
        if isinstance(uid, int):
            user = reg.user_by_id(uid)
            if user is not None and user.active:
                principal = Principal(user.username, user.role, user.provider_id, "session")
            else:
                request.session.clear()
    if request.method not in SAFE_METHODS and principal.via == "session":
        await check_csrf(request)
    request.state.principal = principal
    return principal


def require(level: Access) -> Callable:
    """A dependency admitting the roles of ``level``; 401 for the public, else 403."""
    allowed = LEVELS[level]

    async def dependency(request: Request) -> Principal:
        p = await current_principal(request)
        if p.role not in allowed:
            if p.role == "public":
                raise HTTPException(401, "login required", headers={"WWW-Authenticate": "Bearer"})
            raise HTTPException(403, f"role {p.role} may not do this")
        return p

    dependency.access_level = level  # type: ignore[attr-defined]
    return dependency


def route_access(route: object) -> Access | None:
    """The access level a route declared through :func:`require` (None: undeclared)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    for dep in dependant.dependencies:
        level = getattr(dep.call, "access_level", None)
        if level is not None:
            return level
    return None


# -- login throttling -------------------------------------------------------------------------


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """Failed-login back-off, kept separately per account and per client address.

    A key (an account name or an address) may fail ``free`` times; every failure after
    that locks it for ``base * 2**k`` seconds (k = 0, 1, 2 ...), capped at ``cap``. A
    locked key is answered 429 with ``Retry-After`` and costs no password hash, so a
    guesser gets a handful of tries per lock, not 200 per session. Failures are forgotten
    after ``forget_after`` seconds without one, a successful login clears its account
    (not its address: one valid account must not reset a spraying address).

    The state is in memory, per server process, bounded by ``max_keys`` (least recently
    failed keys are dropped first). Several server processes each keep their own, so the
    effective allowance multiplies by their number.
    """

    def __init__(
        self,
        *,
        account_free: int = 5,
        address_free: int = 20,
        base: float = 1.0,
        cap: float = 900.0,
        forget_after: float = 3600.0,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = {"account": account_free, "address": address_free}
        self.base, self.cap, self.forget_after, self.max_keys = base, cap, forget_after, max_keys
        self.clock = clock
        self._keys: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until this account may be tried again from this address (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [f.locked_until - now for k in self._pair(account, address)
                     if (f := self._keys.get(k)) is not None]
        return max([0.0, *waits])

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._pair(account, address):
                f = self._keys.pop(key, None) or _Failures()
                if now - f.last > self.forget_after and f.locked_until <= now:
                    f = _Failures()
                f.count += 1
                f.last = now
                over = f.count - self.free[key[0]]
                if over > 0:
                    f.locked_until = now + min(self.cap, self.base * 2 ** min(over - 1, 60))
                self._keys[key] = f  # most recent last
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._keys.pop(("account", account), None)

    @staticmethod
    def _pair(account: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("account", account), ("address", address)


def login_throttle(request: Request) -> LoginThrottle:
    """The app's throttle, made on first use from the lab's settings."""
    state = request.app.state
    throttle = getattr(state, "login_throttle", None)
    if throttle is None:
        cfg = state.config
        throttle = state.login_throttle = LoginThrottle(
            account_free=cfg.login_account_failures, address_free=cfg.login_address_failures,
            base=cfg.login_backoff_base, cap=cfg.login_backoff_max,
        )
    return throttle


def client_address(request: Request) -> str:
    """The caller's address; behind a trusted proxy, the one it forwarded (see ``install_hardening``)."""
    return request.client.host if request.client else "unknown"


# -- transport hardening: body limits, HTTPS-only cookies, HSTS ----------------------------------


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimit:
    """Refuse request bodies over a limit before they are read into memory.

    A declared ``Content-Length`` over the limit is refused before the app runs; a body
    without one (chunked) is counted as the app pulls it, and the pull that crosses the
    limit raises 413. Either way at most ``limit`` bytes (plus one server read) are ever
    held. ``routes`` gives (method, path) pairs their own limit (uploads).
    """

    def __init__(self, app: ASGIApp, *, default: int, routes: dict[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.default = default
        self.routes = routes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get((scope["method"], scope["path"]), self.default)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                await _plain(send, 400, "invalid Content-Length")
                return
            if int(declared) > limit:
                await _plain(send, 413, f"request body larger than {limit} bytes")
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except BodyTooLarge:
            if started:
                raise
            await _plain(send, 413, f"request body larger than {limit} bytes")


async def _plain(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})


class HttpsOnly:
    """On HTTPS requests: ``Secure`` on every cookie and a ``Strict-Transport-Security`` header.

    The scheme is what the server saw (uvicorn with a certificate says ``https``) or, from
    a trusted proxy only, what its ``X-Forwarded-Proto`` says. Plain-HTTP requests (local
    development) keep working and get neither: a Secure cookie would never come back.
    """

    def __init__(self, app: ASGIApp, *, hsts_seconds: int) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_seconds}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for k, v in message.get("headers", []):
                    if k.lower() == b"set-cookie" and b"; secure" not in v.lower():
                        v = v + b"; Secure"
                    headers.append((k, v))
                if not any(k.lower() == b"strict-transport-security" for k, _ in headers):
                    headers.append((b"strict-transport-security", self.hsts))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secure)


#: Routes that take uploads, with the setting that bounds their body.
UPLOAD_ROUTES = (("POST", "/verify"),)


def install_hardening(app: FastAPI, config: LabConfig) -> None:
    """Add body limits, HTTPS-only cookies/HSTS and (when configured) trusted-proxy headers.

    Call after every other middleware: the last one added runs first, and the proxy's
    scheme and client address must be in place before anything reads them.
    """
    app.add_middleware(HttpsOnly, hsts_seconds=config.hsts_seconds)
    app.add_middleware(BodyLimit, default=config.max_body,
                       routes=dict.fromkeys(UPLOAD_ROUTES, config.max_upload))
    if config.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.trusted_proxies))
