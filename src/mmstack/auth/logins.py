"""Password logins (with lockout and a second factor), refresh-token rotation, logout, and
turning an access token back into the user it was issued to."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mmstack import metrics
from mmstack.auth.access_tokens import AccessTokens
from mmstack.auth.accounts import end_sessions
from mmstack.auth.audit import Actor, AuditLog
from mmstack.auth.mfa import check_second_factor
from mmstack.auth.passwords import hash_password, needs_rehash, verify_password
from mmstack.auth.principal import Principal
from mmstack.auth.roles import ROLE_PERMISSIONS, Role
from mmstack.auth.secret_box import SecretBox
from mmstack.auth.secrets_format import digest, new_refresh_token
from mmstack.config.settings import AuthSettings
from mmstack.errors import AuthenticationError, RateLimitError
from mmstack.store import logins as rows
from mmstack.store.accounts import find_user, user_named_for_update
from mmstack.store.db import Database
from mmstack.store.models import LoginSession, User

WRONG_CREDENTIALS = "wrong username or password"
FORGET_FAILURES_SECONDS = 86_400


class MfaRequiredError(AuthenticationError):
    code = "mfa_required"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_at: int
    refresh_token: str
    session_id: str
    user_id: str


class LoginService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        tokens: AccessTokens,
        box: SecretBox,
        settings: AuthSettings,
    ) -> None:
        self._db = db
        self._audit = audit
        self._tokens = tokens
        self._box = box
        self._settings = settings

    def login(
        self,
        username: str,
        password: str,
        *,
        address: str | None,
        totp_code: str | None = None,
        recovery_code: str | None = None,
    ) -> TokenPair:
        name = username.strip().lower()
        throttle = (name[:128], (address or "")[:64])
        now = time.time()
        with self._db.session(write=True) as session:
            # Locked (PostgreSQL) until this attempt commits: parallel guesses must each be
            # counted, and a TOTP or recovery code must not be accepted twice.
            user = user_named_for_update(session, name)
            actor = Actor(user.id if user else None, None, user.team_id if user else None, address)
            locked_until = rows.locked_until(session, throttle[0], throttle[1])
            if locked_until is not None and locked_until > now:
                # Known and unknown names alike: the same answer, as fast.
                wait = locked_until - now
                self._audit.record(
                    "auth.login",
                    actor,
                    result="denied",
                    detail={"reason": "locked"},
                    session=session,
                )
                session.commit()
                metrics.auth_failures.labels("locked").inc()
                metrics.rate_limited.labels("login").inc()
                raise RateLimitError(
                    f"too many failed logins: try again in {int(wait) + 1} s", retry_after=wait
                )
            if not verify_password(user.password_hash if user else None, password) or user is None:
                self._fail(session, throttle, actor, "password", now)
                raise AuthenticationError(WRONG_CREDENTIALS)
            if user.disabled:
                self._audit.record(
                    "auth.login",
                    actor,
                    result="denied",
                    detail={"reason": "disabled"},
                    session=session,
                )
                session.commit()
                raise AuthenticationError("this account is disabled")
            if user.totp_enabled:
                if not totp_code and not recovery_code:
                    raise MfaRequiredError(
                        "this account needs a code from its authenticator app (totp_code) "
                        "or a recovery code"
                    )
                if not check_second_factor(
                    session, user, self._box, code=totp_code, recovery_code=recovery_code
                ):
                    self._fail(session, throttle, actor, "second factor", now)
                    raise AuthenticationError("the code is not right")
            if user.password_hash and needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            rows.forget_failures(session, throttle[0], throttle[1])
            pair = self._open_session(session, user, address)
            detail = {"mfa": "recovery_code" if recovery_code and not totp_code else "totp"}
            self._audit.record(
                "auth.login",
                actor,
                target=pair.session_id,
                detail=detail if user.totp_enabled else {},
                session=session,
            )
        return pair

    def refresh(self, refresh_token: str, *, address: str | None) -> TokenPair:
        """A new access token and a new refresh token; the old refresh token is spent. A
        spent one presented again means it leaked: that session ends."""
        hashed = digest(refresh_token)
        now = int(time.time())
        with self._db.session(write=True) as session:
            # Locked: a token presented twice at once is spent once; the other sees it spent.
            login = rows.login_by_refresh_hash(session, hashed)
            if login is None:
                reused = rows.login_by_previous_refresh_hash(session, hashed)
                if reused is not None and reused.revoked_at is None:
                    reused.revoked_at = now
                    self._audit.record(
                        "auth.refresh",
                        Actor(reused.user_id, address=address),
                        result="denied",
                        target=reused.id,
                        detail={"reason": "refresh token used twice; session ended"},
                        session=session,
                    )
                    session.commit()
                raise AuthenticationError("the refresh token is not valid")
            user = session.get(User, login.user_id)
            if (
                user is None
                or user.disabled
                or login.revoked_at is not None
                or login.expires_at <= now
                or login.generation != user.session_generation
            ):
                raise AuthenticationError("the session has ended; log in again")
            token = new_refresh_token()
            login.previous_refresh_hash, login.refresh_hash = hashed, digest(token)
            access, expires = self._tokens.issue(user.id, login.id, login.generation)
        return TokenPair(access, expires, token, login.id, user.id)

    def logout(self, session_id: str, *, actor: Actor, everywhere: bool = False) -> None:
        with self._db.session(write=True) as session:
            login = session.get(LoginSession, session_id)
            if login is None:
                return
            if everywhere:
                end_sessions(session, find_user(session, login.user_id))
            elif login.revoked_at is None:
                login.revoked_at = int(time.time())
            self._audit.record(
                "auth.logout",
                actor,
                target=session_id,
                detail={"everywhere": everywhere},
                session=session,
            )

    def authenticate(self, token: str) -> Principal:
        """The user an access token speaks for, if its session still stands."""
        claims = self._tokens.verify(token)
        now = int(time.time())
        with self._db.engine.connect() as connection:
            row = rows.login_row(connection, claims.session_id, claims.user_id)
        if row is None:
            raise AuthenticationError("the access token is not valid")
        if (
            row.revoked_at is not None
            or row.expires_at <= now
            or row.disabled
            or row.session_generation != claims.generation
        ):
            raise AuthenticationError("the session has ended; log in again")
        role = Role(row.role)
        return Principal(
            row.id,
            row.username,
            row.team_id,
            role,
            ROLE_PERMISSIONS[role],
            session_id=claims.session_id,
            user_quotas=row.quotas,
        )

    def _open_session(self, session: Session, user: User, address: str | None) -> TokenPair:
        token = new_refresh_token()
        login = LoginSession(
            user_id=user.id,
            generation=user.session_generation,
            refresh_hash=digest(token),
            expires_at=int(time.time()) + self._settings.refresh_token_days * 86400,
            address=address,
        )
        session.add(login)
        session.flush()
        access, expires = self._tokens.issue(user.id, login.id, login.generation)
        return TokenPair(access, expires, token, login.id, user.id)

    def _fail(
        self, session: Session, throttle: tuple[str, str], actor: Actor, reason: str, now: float
    ) -> None:
        """Count a failed attempt under this name from this address; enough in a row lock
        them out, for longer each time. Counts left alone for a day are forgotten."""
        s = self._settings
        name, address = throttle
        failures = rows.count_failure(session, self._db, name, address, now)
        detail: dict[str, object] = {"reason": reason}
        over = failures - s.lockout_threshold
        metrics.auth_failures.labels("mfa" if reason == "second factor" else reason).inc()
        if over >= 0:
            metrics.auth_lockouts.inc()
            seconds = min(s.lockout_max_seconds, s.lockout_base_seconds * 2 ** min(over, 30))
            rows.lock_out(session, name, address, until=now + seconds)
            detail["locked_seconds"] = seconds
        rows.forget_stale_failures(session, counted_before=now - FORGET_FAILURES_SECONDS, now=now)
        self._audit.record("auth.login", actor, result="failure", detail=detail, session=session)
        session.commit()
