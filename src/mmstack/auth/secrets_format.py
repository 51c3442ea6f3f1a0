"""The opaque secrets mmstack hands out: API keys and refresh tokens. Each has a prefix
that says what it is (so scanners and people recognize a leaked one), is stored only as
its sha256 (they are random, 256 bits: a slow hash adds nothing) and compared in constant
time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

API_KEY_PREFIX: Final = "mmk_"
REFRESH_PREFIX: Final = "mmr_"
KEY_ID_BYTES: Final = 6
RECOVERY_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_api_key() -> tuple[str, str, str]:
    """(key id, the whole key to show once, the digest to store)."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secret}", digest(secret)


def split_api_key(token: str) -> tuple[str, str] | None:
    """(key id, secret) of something shaped like an API key, else None."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, secret = token.removeprefix(API_KEY_PREFIX).partition("_")
    if not sep or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        return None
    return key_id, secret


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_recovery_code() -> str:
    """Ten characters in two groups, easy to read and type: 'k7fq2-x9mdw'."""
    chars = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def normalize_recovery_code(code: str) -> str:
    cleaned = "".join(c for c in code.lower() if c.isalnum())
    return f"{cleaned[:5]}-{cleaned[5:]}"
