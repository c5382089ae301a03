"""Admin session tokens: JWTs issued after a password login, told apart by `aud = parley-admin`.

A join token (parley_common.tokens) is never accepted as an admin token, nor the other way round:
both are checked by parley_common.tokens.decode_jwt, which requires `aud` here and refuses it there.
"""

from __future__ import annotations

import time

import jwt
from parley_common.tokens import ALGORITHM, TokenError, claim_str, decode_jwt

ADMIN_AUDIENCE = "parley-admin"


def issue_admin_token(secret: str, username: str, ttl_s: int, password_epoch: float = 0.0) -> str:
    """`pwe`: when the account's password last changed (epoch s; 0: never). A session whose `pwe`
    is not the account's current one was issued before a password change and is refused."""
    now = int(time.time())
    claims = {"sub": username, "aud": ADMIN_AUDIENCE, "iat": now, "exp": now + ttl_s, "pwe": password_epoch}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_admin_token(secret: str, token: str) -> tuple[str, float]:
    """(admin user name, its `pwe`) of a valid admin session token; raises TokenError."""
    claims = decode_jwt(secret, token, audience=ADMIN_AUDIENCE)
    try:
        return claim_str(claims, "sub"), float(claims.get("pwe", 0.0))
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenError("invalid", "admin token claims are malformed") from exc
