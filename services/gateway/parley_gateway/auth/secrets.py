"""API keys and admin passwords, stored only as hashes.

An API key is `pk_<prefix>_<secret>`: the prefix (public, indexed) finds the row, the SHA-256 of
the whole key is compared in constant time. Keys are 32 random bytes, so a fast hash is enough;
passwords are people's, so they get scrypt with a per-password salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

KEY_PREFIX = "pk_"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_api_key() -> tuple[str, str, str]:
    """(key shown once, its public prefix, its hash for storage)."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(KEY_PREFIX) :].partition("_")
    return prefix if sep and rest and len(prefix) == 8 else None


def check_api_key(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


_DUMMY: list[str] = []


def check_password_or_nothing(password: str, stored: str | None) -> bool:
    """check_password, taking as long when there is no stored hash (an unknown or disabled
    account): the answer's timing does not tell which user names exist."""
    if stored is None:
        if not _DUMMY:
            _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
        check_password(password, _DUMMY[0])
        return False
    return check_password(password, stored)


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return hmac.compare_digest(got, digest)


def new_invite_code() -> str:
    return secrets.token_urlsafe(18)
