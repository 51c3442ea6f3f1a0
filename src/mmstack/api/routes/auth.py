"""Logging in and out, refreshing, one's own password and two-factor authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request

from mmstack.api.account_schemas import (
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    RecoveryCodesOut,
    RefreshRequest,
    TokenOut,
    TotpCode,
    TotpDisable,
    TotpEnrolmentOut,
    UserOut,
)
from mmstack.api.deps import ActorDep, AuthDep, PrincipalDep, actor_of, stack_of
from mmstack.auth.principal import Principal
from mmstack.errors import PermissionDeniedError

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _login_only(principal: Principal) -> str:
    """Account changes need a login: an API key cannot make them."""
    if principal.session_id is None:
        raise PermissionDeniedError("this needs a login (an access token), not an API key")
    return principal.user_id


def _count_attempt(request: Request) -> None:
    """Logins and refreshes are limited per client address (429 with Retry-After)."""
    stack = stack_of(request)
    stack.auth.quotas.check_login_attempt(
        actor_of(request).address, stack.settings.auth.login_attempts_per_minute
    )


@router.post("/login")
def login(auth: AuthDep, body: LoginRequest, request: Request) -> TokenOut:
    """Exchange a username and password (and a TOTP or recovery code, when two-factor
    authentication is on) for an access token and a refresh token."""
    _count_attempt(request)
    pair = auth.logins.login(
        body.username,
        body.password,
        address=actor_of(request).address,
        totp_code=body.totp_code,
        recovery_code=body.recovery_code,
    )
    return TokenOut.of(pair)


@router.post("/refresh")
def refresh(auth: AuthDep, body: RefreshRequest, request: Request) -> TokenOut:
    """A new token pair for a refresh token, which is then spent."""
    _count_attempt(request)
    logins = auth.logins
    return TokenOut.of(logins.refresh(body.refresh_token, address=actor_of(request).address))


@router.post("/logout", status_code=204)
def logout(
    auth: AuthDep,
    principal: PrincipalDep,
    actor: ActorDep,
    body: LogoutRequest | None = None,
) -> None:
    """End this login (or, with `everywhere`, every login of the user)."""
    _login_only(principal)
    assert principal.session_id is not None
    everywhere = body.everywhere if body else False
    auth.logins.logout(principal.session_id, actor=actor, everywhere=everywhere)


@router.get("/me")
def me(auth: AuthDep, principal: PrincipalDep) -> UserOut:
    return UserOut.of(auth.accounts.get_user(principal.user_id))


@router.post("/password", status_code=204)
def change_password(
    auth: AuthDep, body: PasswordChange, principal: PrincipalDep, actor: ActorDep
) -> None:
    """Change one's own password; every login of the user ends."""
    user_id = _login_only(principal)
    auth.accounts.change_own_password(
        user_id, body.current_password, body.new_password, actor=actor
    )


@router.post("/mfa/totp")
def begin_totp(auth: AuthDep, principal: PrincipalDep, actor: ActorDep) -> TotpEnrolmentOut:
    """Start TOTP enrolment: scan the QR code (or type the secret) into an authenticator
    app, then confirm with a code from it."""
    enrolment = auth.mfa.begin_totp(_login_only(principal), actor=actor)
    return TotpEnrolmentOut(
        secret=enrolment.secret, otpauth_uri=enrolment.uri, qr_svg=enrolment.qr_svg
    )


@router.post("/mfa/totp/confirm")
def confirm_totp(
    auth: AuthDep, body: TotpCode, principal: PrincipalDep, actor: ActorDep
) -> RecoveryCodesOut:
    """Turn TOTP on with a first code; returns one-time recovery codes."""
    mfa = auth.mfa
    codes = mfa.confirm_totp(_login_only(principal), body.code, actor=actor)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/mfa/totp/disable", status_code=204)
def disable_totp(
    auth: AuthDep, body: TotpDisable, principal: PrincipalDep, actor: ActorDep
) -> None:
    auth.mfa.disable_totp(
        _login_only(principal),
        password=body.password,
        code=body.code,
        recovery_code=body.recovery_code,
        actor=actor,
    )


@router.post("/mfa/recovery-codes")
def new_recovery_codes(
    auth: AuthDep, body: TotpCode, principal: PrincipalDep, actor: ActorDep
) -> RecoveryCodesOut:
    """New recovery codes (the old ones stop working); needs a current TOTP code."""
    mfa = auth.mfa
    return RecoveryCodesOut(
        recovery_codes=mfa.new_recovery_codes(_login_only(principal), body.code, actor=actor)
    )
