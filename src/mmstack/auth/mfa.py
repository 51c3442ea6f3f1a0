"""TOTP enrolment (secret, otpauth URI, QR code), confirmation with a first code, one-time
recovery codes, and checking a second factor at login."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from mmstack.auth import totp
from mmstack.auth.accounts import end_sessions
from mmstack.auth.audit import Actor, AuditLog
from mmstack.auth.passwords import verify_password
from mmstack.auth.secret_box import SEALED_PREFIX, SecretBox, SecretBoxError
from mmstack.auth.secrets_format import digest, new_recovery_code, normalize_recovery_code
from mmstack.errors import AuthenticationError, ConflictError, InvalidRequestError
from mmstack.store import mfa as rows
from mmstack.store.accounts import find_user
from mmstack.store.db import Database
from mmstack.store.models import RecoveryCode, User

RECOVERY_CODES: Final = 10

log = logging.getLogger(__name__)


def seal_stored_secrets(db: Database, box: SecretBox) -> int:
    """Encrypt the TOTP secrets stored in clear (by a version before encryption); how many.
    Runs at every start: a read that finds none is all it costs then."""
    with db.session() as session:
        if not rows.any_secret_in_clear(session, SEALED_PREFIX):
            return 0
    with db.session(write=True) as session:
        users = rows.users_with_secret_in_clear(session, SEALED_PREFIX)
        for user in users:
            assert user.totp_secret is not None
            user.totp_secret = box.seal(user.totp_secret, bound_to=user.id)
    return len(users)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str
    uri: str  # otpauth://totp/...
    qr_svg: str  # the URI as a QR code, an SVG data: URI


def check_second_factor(
    session: Session,
    user: User,
    box: SecretBox,
    *,
    code: str | None,
    recovery_code: str | None,
) -> bool:
    """Whether the TOTP code (not used before) or an unused recovery code is right; a
    recovery code is used up by this. A TOTP secret that does not open with the data key
    takes no code (logged): a recovery code still works."""
    if code and user.totp_secret:
        try:
            secret = box.open(user.totp_secret, bound_to=user.id)
        except SecretBoxError as exc:
            log.error("TOTP secret unreadable", extra={"user": user.id, "error": exc.message})
            return False
        step = totp.matching_step(secret, code, after_step=user.last_totp_step)
        if step is not None:
            user.last_totp_step = step
            return True
        return False
    if recovery_code:
        row = session.get(RecoveryCode, (user.id, digest(normalize_recovery_code(recovery_code))))
        if row is not None and row.used_at is None:
            row.used_at = int(time.time())
            return True
    return False


class MfaService:
    def __init__(self, db: Database, audit: AuditLog, box: SecretBox, *, issuer: str) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._issuer = issuer

    def begin_totp(self, user_id: str, *, actor: Actor) -> TotpEnrolment:
        """A new secret for the user to scan; it takes effect once `confirm_totp` gets a
        code from it. Starting again replaces a secret not yet confirmed."""
        with self._db.session(write=True) as session:
            user = find_user(session, user_id)
            if user.totp_enabled:
                raise ConflictError("two-factor authentication is already on; turn it off first")
            secret = totp.new_secret()
            user.totp_secret = self._box.seal(secret, bound_to=user.id)
            user.last_totp_step = 0
            self._audit.record("mfa.totp.begin", actor, target=user.id, session=session)
            uri = totp.provisioning_uri(secret, username=user.username, issuer=self._issuer)
            return TotpEnrolment(secret, uri, totp.qr_svg_data_uri(uri))

    def confirm_totp(self, user_id: str, code: str, *, actor: Actor) -> list[str]:
        """Turn TOTP on with a first code from the app; returns the recovery codes (shown
        once)."""
        with self._db.session(write=True) as session:
            user = find_user(session, user_id)
            if user.totp_enabled:
                raise ConflictError("two-factor authentication is already on")
            if not user.totp_secret:
                raise InvalidRequestError("start the enrolment first", param="code")
            if not check_second_factor(session, user, self._box, code=code, recovery_code=None):
                self._audit.record(
                    "mfa.totp.confirm", actor, result="failure", target=user.id, session=session
                )
                session.commit()
                raise InvalidRequestError(
                    "the code is not right; check the app's clock", param="code"
                )
            user.totp_enabled = True
            codes = self._replace_recovery_codes(session, user)
            self._audit.record("mfa.totp.enable", actor, target=user.id, session=session)
        return codes

    def disable_totp(
        self,
        user_id: str,
        *,
        password: str,
        code: str | None,
        recovery_code: str | None,
        actor: Actor,
    ) -> None:
        """Turn TOTP off: the password and a current code (or a recovery code) are needed."""
        with self._db.session(write=True) as session:
            user = find_user(session, user_id)
            if not user.totp_enabled:
                raise ConflictError("two-factor authentication is not on")
            if not verify_password(user.password_hash, password) or not check_second_factor(
                session, user, self._box, code=code, recovery_code=recovery_code
            ):
                self._audit.record(
                    "mfa.totp.disable", actor, result="failure", target=user.id, session=session
                )
                session.commit()
                raise AuthenticationError("the password or the code is not right")
            user.totp_enabled = False
            user.totp_secret = None
            rows.delete_recovery_codes(session, user.id)
            self._audit.record("mfa.totp.disable", actor, target=user.id, session=session)

    def reset(self, user_id: str, *, actor: Actor) -> None:
        """An admin's reset for a user who lost their authenticator and recovery codes:
        two-factor authentication is off and every login of the user ends."""
        with self._db.session(write=True) as session:
            user = find_user(session, user_id)
            if not user.totp_enabled and not user.totp_secret:
                raise ConflictError("two-factor authentication is not on")
            user.totp_enabled = False
            user.totp_secret = None
            rows.delete_recovery_codes(session, user.id)
            end_sessions(session, user)
            self._audit.record("mfa.reset", actor, target=user.id, session=session)

    def new_recovery_codes(self, user_id: str, code: str, *, actor: Actor) -> list[str]:
        """Replace the recovery codes (the old ones stop working); needs a current code."""
        with self._db.session(write=True) as session:
            user = find_user(session, user_id)
            if not user.totp_enabled:
                raise ConflictError("two-factor authentication is not on")
            if not check_second_factor(session, user, self._box, code=code, recovery_code=None):
                raise AuthenticationError("the code is not right")
            codes = self._replace_recovery_codes(session, user)
            self._audit.record("mfa.recovery_codes", actor, target=user.id, session=session)
        return codes

    def recovery_codes_left(self, user_id: str) -> int:
        with self._db.session() as session:
            return rows.unused_recovery_codes(session, user_id)

    @staticmethod
    def _replace_recovery_codes(session: Session, user: User) -> list[str]:
        rows.delete_recovery_codes(session, user.id)
        codes = sorted({new_recovery_code() for _ in range(RECOVERY_CODES)})
        session.add_all(RecoveryCode(user_id=user.id, code_hash=digest(c)) for c in codes)
        return codes
