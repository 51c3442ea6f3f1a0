"""Secrets the server must read back (TOTP seeds) kept encrypted in the database, with
the deployment's data key: AES-256-GCM, each bound to the row it belongs to, so a copy of
the database (a backup, a leaked dump) does not give anyone a second factor."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mmstack.errors import MMStackError

SEALED_PREFIX = "enc1:"
_NONCE_BYTES = 12


class SecretBoxError(MMStackError):
    code = "data_key_mismatch"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"mmstack secret box v1"
        ).derive(key)
        self._aead = AESGCM(derived)

    def seal(self, secret: str, *, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), bound_to.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str, *, bound_to: str) -> str:
        """The secret; a value stored before encryption (no prefix) is returned as is."""
        if not is_sealed(stored):
            return stored
        raw = base64.urlsafe_b64decode(stored.removeprefix(SEALED_PREFIX))
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except InvalidTag:
            raise SecretBoxError(
                "a stored secret does not open with this deployment's data key "
                "(auth.data_key, or DATA_DIR/secrets/data-encryption.key): was it changed?"
            ) from None
        return plain.decode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)
