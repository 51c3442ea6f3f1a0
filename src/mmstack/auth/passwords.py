"""Password hashing (argon2id, argon2-cffi's RFC 9106 parameters) and the password policy."""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mmstack.errors import InvalidRequestError

_hasher: Final = PasswordHasher()
# Verified against when the user does not exist, so an unknown name takes as long as a
# wrong password. A hash made once with the hasher's parameters (a test checks they still
# are): hashing it at import cost every command and start about 0.1 s.
DECOY: Final = (
    "$argon2id$v=19$m=65536,t=3,p=4$Tq+UHIAl1M0Y8jYDpxZm0w$"
    "oSl0wDkfr2iHVY+0yEIYq9rSf9tJC57PcBvexElY65Y"
)
MAX_LENGTH: Final = 1024

# zxcvbn's estimate of the guesses an attacker needs, below which a password is refused:
# its score 2 and up ("safe from throttled online guessing"). It knows the 30,000 most
# common passwords of real breaches, English words, names, keyboard walks, sequences,
# dates and l33t spellings of all of them, as NIST SP 800-63B asks a blocklist to.
MIN_GUESSES: Final = 1e6
_ESTIMATED_PREFIX: Final = 72  # zxcvbn refuses longer input (its time grows fast with length)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches; `stored` None (no such user, no password) is checked
    against a decoy and is never a match."""
    try:
        return _hasher.verify(stored or DECOY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def check_policy(password: str, *, username: str, min_length: int) -> None:
    """Length over complexity rules (NIST SP 800-63B): long enough, not the user's name,
    not a password of a breach list or one built from common words and patterns."""
    if len(password) < min_length:
        raise InvalidRequestError(
            f"password must be at least {min_length} characters", param="password"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidRequestError(
            f"password must be at most {MAX_LENGTH} characters", param="password"
        )
    if username.lower() in password.lower():
        raise InvalidRequestError("password must not contain the username", param="password")
    from zxcvbn import zxcvbn  # its word lists load on first use, not at every start

    estimate = zxcvbn(password[:_ESTIMATED_PREFIX], user_inputs=[username, "mmstack"])
    if len(set(password)) < 4 or estimate["guesses"] < MIN_GUESSES:
        hint = estimate["feedback"].get("warning") or "it is a common or predictable password"
        raise InvalidRequestError(
            f"password is too easy to guess ({hint.rstrip('.').lower()}): "
            "a few unrelated words make a strong one",
            param="password",
        )
