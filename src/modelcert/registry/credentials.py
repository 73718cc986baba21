"""Hashed secrets: passwords with scrypt, API tokens with SHA-256.

Passwords are low-entropy, so they get a slow, salted, memory-hard hash
(``hashlib.scrypt``). Tokens are 256 random bits: a brute force is hopeless, so a plain
SHA-256 is enough and lets a request find its token with one indexed lookup instead of
one scrypt per stored token. Neither plaintext is ever stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt cost: 16 MiB and ~50 ms per check on one core; stored with each hash so
# it can be raised later without invalidating old hashes.
_N, _R, _P = 2**14, 8, 1
TOKEN_PREFIX = "mct_"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` for a password (never stored in clear)."""
    if not password:
        raise ValueError("empty password")
    salt = secrets.token_bytes(16)
    h = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(h)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check of ``password`` against a stored scrypt hash."""
    if not stored or not password:
        return False
    try:
        algo, n, r, p, salt, want = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(want))


def new_token() -> str:
    """A fresh API token: a recognisable prefix plus 256 random bits (URL-safe)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
