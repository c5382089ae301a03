"""Join tokens: JWT HS256 naming the room, participant, display name and role.

A contract between services: the gateway issues and verifies them (REST, caption WebSocket),
the SFU (mediasoup-node/src/token.ts) verifies the same tokens with the same secret
(`JOIN_TOKEN_SECRET` there, `PARLEY_JOIN_TOKEN_SECRET` here), and the test/demo tools issue them.
Claims, all required: `room`, `sub`, `name`, `role` (host | guest | listener), `iat`, `exp`.

`decode_jwt` is the one place a Parley JWT is checked (algorithm, leeway, required claims);
the gateway's admin session tokens (parley_gateway.auth.tokens) use it too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from parley_common.schemas import NAME_RE

ALGORITHM = "HS256"
LEEWAY_S = 30  # clock skew tolerated, as at the SFU
MAX_NAME_CHARS = 200


class Role(StrEnum):
    HOST = "host"
    GUEST = "guest"
    LISTENER = "listener"


class TokenError(Exception):
    """A token that must be refused. `reason`: missing | expired | invalid | wrong_room | wrong_role."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class JoinClaims:
    room: str
    sub: str
    name: str
    role: Role
    iat: int
    exp: int


def issue_join_token(secret: str, room: str, sub: str, name: str, role: str, ttl_s: int) -> str:
    if not NAME_RE.match(room):
        raise ValueError(f"bad room slug {room!r}")
    if not NAME_RE.match(sub):
        raise ValueError(f"bad participant id {sub!r}")
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValueError("display name must be 1-200 characters")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    now = int(time.time())
    claims = {
        "room": room,
        "sub": sub,
        "name": name,
        "role": Role(role).value,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_join_token(secret: str, token: str | None, room: str) -> JoinClaims:
    """The claims of a valid token for `room`; raises TokenError (missing/expired/invalid/wrong_room)."""
    parsed = read_join_token(secret, token)
    if parsed.room != room:
        raise TokenError("wrong_room", "join token is for another room")
    return parsed


def read_join_token(secret: str, token: str | None) -> JoinClaims:
    """The claims of a valid join token for any room; raises TokenError."""
    if not token:
        raise TokenError("missing", "a join token is required")
    claims = decode_jwt(secret, token, audience=None)
    try:
        parsed = JoinClaims(
            room=claim_str(claims, "room"),
            sub=claim_str(claims, "sub"),
            name=claim_str(claims, "name"),
            role=Role(claim_str(claims, "role")),
            iat=int(claims["iat"]),
            exp=int(claims["exp"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenError("invalid", "join token claims are malformed") from exc
    return parsed


def decode_jwt(secret: str, token: str, audience: str | None) -> dict[str, Any]:
    """The checked claims of a Parley JWT: a join token (`audience` None) or one for `audience`."""
    required = ["exp", "iat", "sub"] + (["aud"] if audience else ["room", "name", "role"])
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            leeway=LEEWAY_S,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("expired", "token has expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("invalid", "token signature is invalid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError("invalid", f"token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid", f"token is invalid: {exc}") from exc
    return claims


def claim_str(claims: dict[str, Any], key: str) -> str:
    """A required non-empty string claim; KeyError or ValueError otherwise."""
    value = claims[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value
