"""Everything identity and access needs, built from settings: the stack holds one `Auth`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mmstack import metrics
from mmstack.auth.access_tokens import AccessTokens, deployment_key
from mmstack.auth.accounts import AccountService, FirstAdmin
from mmstack.auth.api_keys import ApiKeyService
from mmstack.auth.audit import AuditLog
from mmstack.auth.logins import LoginService
from mmstack.auth.mfa import MfaService, seal_stored_secrets
from mmstack.auth.principal import Principal
from mmstack.auth.quotas import QuotaService
from mmstack.auth.secret_box import SecretBox
from mmstack.auth.secrets_format import API_KEY_PREFIX
from mmstack.auth.service_key import ensure_service_key
from mmstack.auth.signed_links import SignedLinks
from mmstack.config.settings import AuthSettings, QuotaSettings, Settings
from mmstack.errors import AuthenticationError
from mmstack.store import migrate
from mmstack.store.db import Database

NO_CREDENTIALS = (
    "no credentials: send 'Authorization: Bearer <key>' with an API key "
    "(mmstack keys create) or an access token (POST /api/auth/login)"
)


@dataclass
class Auth:
    accounts: AccountService
    logins: LoginService
    mfa: MfaService
    keys: ApiKeyService
    audit: AuditLog
    quotas: QuotaService
    links: SignedLinks
    first_admin: FirstAdmin | None = None  # made by this start, to be shown once

    def authenticate(self, authorization: str | None) -> Principal:
        """Who an `Authorization` header speaks for: an API key or an access token."""
        scheme, _, credentials = (authorization or "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            metrics.auth_failures.labels("none").inc()
            raise AuthenticationError(NO_CREDENTIALS)
        kind = "key" if credentials.startswith(API_KEY_PREFIX) else "token"
        try:
            if kind == "key":
                return self.keys.authenticate(credentials)
            return self.logins.authenticate(credentials)
        except AuthenticationError:
            metrics.auth_failures.labels(kind).inc()
            raise


def open_auth(
    db: Database,
    auth: AuthSettings,
    quotas: QuotaSettings,
    data_dir: Path,
    *,
    make_first_admin: bool = True,
    link_minutes: int = 60,
) -> Auth:
    """Everything built; with no user at all and `make_first_admin`, the first admin is
    made (a process that cannot show its password, such as a worker, passes False)."""
    key = deployment_key(
        auth.token_secret.get_secret_value() if auth.token_secret else None,
        data_dir / "secrets" / "token-signing.key",
    )
    box = SecretBox(
        deployment_key(
            auth.data_key.get_secret_value() if auth.data_key else None,
            data_dir / "secrets" / "data-encryption.key",
        )
    )
    seal_stored_secrets(db, box)
    audit = AuditLog(db)
    tokens = AccessTokens(key, lifetime_seconds=auth.access_token_minutes * 60)
    accounts = AccountService(db, audit, auth)
    first_admin = accounts.ensure_first_admin() if make_first_admin else None
    if auth.service_key is not None:
        ensure_service_key(
            db, accounts, audit, auth.service_key.get_secret_value(), username=auth.service_username
        )
    return Auth(
        accounts=accounts,
        logins=LoginService(db, audit, tokens, box, auth),
        mfa=MfaService(db, audit, box, issuer=auth.totp_issuer),
        keys=ApiKeyService(db, audit),
        audit=audit,
        quotas=QuotaService(db, quotas),
        links=SignedLinks(key, lifetime_seconds=link_minutes * 60),
        first_admin=first_admin,
    )


@contextmanager
def open_accounts(settings: Settings) -> Iterator[Auth]:
    """Identity and access alone (no models, no indexes, no data-directory lock): what
    user and key management need, also while a server runs on the same database."""
    with migrate.migrated_database(settings.sqlalchemy_url, settings.data_dir) as db:
        yield open_auth(db, settings.auth, settings.quotas, settings.data_dir)
