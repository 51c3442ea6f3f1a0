"""Password hashing (argon2id, argon2-cffi's RFC 9106 parameters) and the password policy."""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mmstack.errors import InvalidRequestError

_hasher: Final = PasswordHasher()
# Verified against when the user does not exist, so an unknown name takes as long as a
# wrong password.
_DECOY: Final = _hasher.hash("decoy password, never used")
MAX_LENGTH: Final = 1024

# The most common passwords that would otherwise pass the length rule.
COMMON: Final = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "iloveyou1234",
        "adminadmin12",
        "administrator",
        "changemechangeme",
        "letmeinletmein",
        "welcome12345",
    }
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches; `stored` None (no such user, no password) is checked
    against a decoy and is never a match."""
    try:
        return _hasher.verify(stored or _DECOY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def check_policy(password: str, *, username: str, min_length: int) -> None:
    """Length over complexity rules (NIST SP 800-63B): long enough, not the user's name,
    not a well-known password, not a single repeated character."""
    if len(password) < min_length:
        raise InvalidRequestError(
            f"password must be at least {min_length} characters", param="password"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidRequestError(
            f"password must be at most {MAX_LENGTH} characters", param="password"
        )
    lowered = password.lower()
    if username.lower() in lowered:
        raise InvalidRequestError("password must not contain the username", param="password")
    if lowered in COMMON or len(set(password)) < 4:
        raise InvalidRequestError("password is too easy to guess", param="password")
