"""Access tokens: short-lived JWTs (HS256) naming the user and their login session. The
session is checked on every request, so logging out or changing the password ends them
before they expire."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import jwt

from mmstack.errors import AuthenticationError
from mmstack.private_files import create_private_once

ALGORITHM: Final = "HS256"
ISSUER: Final = "mmstack"
KEY_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    generation: int
    expires_at: int


class AccessTokens:
    def __init__(self, key: bytes, *, lifetime_seconds: int) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the token signing key needs at least {KEY_BYTES} bytes")
        self._key = key
        self.lifetime_seconds = lifetime_seconds

    def issue(self, user_id: str, session_id: str, generation: int) -> tuple[str, int]:
        """The token and when it expires (epoch seconds)."""
        now = int(time.time())
        expires = now + self.lifetime_seconds
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "sid": session_id,
            "gen": generation,
            "iat": now,
            "exp": expires,
            "typ": "access",
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "sid", "gen", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the access token has expired; refresh it") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the access token is not valid") from None
        if claims["typ"] != "access" or not isinstance(claims["gen"], int):
            raise AuthenticationError("the access token is not valid")
        return AccessClaims(
            str(claims["sub"]), str(claims["sid"]), claims["gen"], int(claims["exp"])
        )


def deployment_key(configured: str | None, key_file: Path) -> bytes:
    """The configured key, or the one generated into `key_file` (0600) on first use."""
    if configured:
        return configured.encode()
    if key_file.exists():
        return bytes.fromhex(key_file.read_text().strip())
    held = create_private_once(key_file, secrets.token_bytes(KEY_BYTES).hex().encode())
    return bytes.fromhex(held.decode().strip())
