"""Time-based one-time passwords (RFC 6238, 30 s, 6 digits) with pyotp, and the QR code
that provisions an authenticator app (segno)."""

from __future__ import annotations

import time
from typing import Final

import pyotp
import segno

STEP_SECONDS: Final = 30
DRIFT_STEPS: Final = 1  # a code of the previous or next 30 s is accepted too


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=4))


def matching_step(
    secret: str, code: str, *, after_step: int, at: float | None = None
) -> int | None:
    """The time step whose code `code` is, within the allowed drift and later than
    `after_step` (a code is used once); None when it matches none."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int((time.time() if at is None else at) // STEP_SECONDS)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if step > after_step and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
