"""Who is asking, and may they: bearer tokens, password sessions, roles, CSRF.

Roles, from most to least trusted: ``admin`` (also manages users), ``auditor`` (runs
audits, changes statuses), ``provider`` (reads its own models' audits, verdicts and
redacted evidence only), and ``public`` (anyone: registry and verification).

A request carries either ``Authorization: Bearer <token>`` (API clients; a bad token
is a 401, never a silent downgrade to public) or a signed session cookie from the
login form. Unsafe methods under a logged-in session need the session's CSRF token, as
a form field ``csrf_token`` or an ``X-CSRF-Token`` header; bearer requests carry no
ambient credentials, so they need none, and anonymous requests (public verification)
can do nothing a forger could profit from. The login form checks its token itself.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request

Access = Literal["public", "user", "staff", "admin"]
#: Roles admitted at each access level (declared on every route, enforced here).
LEVELS: dict[Access, frozenset[str]] = {
    "public": frozenset({"public", "provider", "auditor", "admin"}),
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
