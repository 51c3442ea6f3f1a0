"""Signed links: short-lived URLs that open one thing without logging in, the way an object
store's presigned URL does. A citation's link (`url_citation`) is one: whoever holds it may
see the cited passage and its page until it expires, and nothing else.

The claims are signed (HS256) with a key derived from the token-signing key, so a link can
never pass for an access token, nor the other way round."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Final

import jwt

from mmstack.errors import NotFoundError

ALGORITHM: Final = "HS256"
PURPOSE: Final = b"mmstack signed links"


class LinkNotValidError(NotFoundError):
    code = "link_not_valid"


class SignedLinks:
    def __init__(self, token_key: bytes, *, lifetime_seconds: int) -> None:
        self._key = hmac.new(token_key, PURPOSE, hashlib.sha256).digest()
        self.lifetime_seconds = lifetime_seconds

    @property
    def enabled(self) -> bool:
        return self.lifetime_seconds > 0

    def sign(self, kind: str, claims: dict[str, Any]) -> str:
        """A token for `claims` (short keys: it goes into a URL), valid for the lifetime."""
        now = int(time.time())
        body = {**claims, "typ": kind, "exp": now + self.lifetime_seconds}
        return jwt.encode(body, self._key, algorithm=ALGORITHM)

    def verify(self, kind: str, token: str) -> dict[str, Any]:
        """The claims of a token made by `sign(kind, ...)` that has not expired."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "typ"]}
            )
        except jwt.ExpiredSignatureError:
            raise LinkNotValidError("this link has expired: open the citation again") from None
        except jwt.PyJWTError:
            raise LinkNotValidError("this link is not valid") from None
        if claims["typ"] != kind:
            raise LinkNotValidError("this link is not valid")
        return claims
