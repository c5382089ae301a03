"""Admin session tokens: JWTs issued after a password login, told apart by `aud = parley-admin`.

A join token (parley_common.tokens) is never accepted as an admin token, nor the other way round:
both are checked by parley_common.tokens.decode_jwt, which requires `aud` here and refuses it there.
"""

from __future__ import annotations

import time

import jwt
from parley_common.tokens import ALGORITHM, TokenError, claim_str, decode_jwt

ADMIN_AUDIENCE = "parley-admin"


def issue_admin_token(secret: str, username: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": username, "aud": ADMIN_AUDIENCE, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_admin_token(secret: str, token: str) -> str:
    """The admin user name of a valid admin session token; raises TokenError."""
    claims = decode_jwt(secret, token, audience=ADMIN_AUDIENCE)
    try:
        return claim_str(claims, "sub")
    except (KeyError, ValueError) as exc:
        raise TokenError("invalid", "admin token claims are malformed") from exc
