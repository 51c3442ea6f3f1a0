"""Request and response bodies of the identity and access API (`/api/auth`, `/api/keys`,
`/api/users`, `/api/teams`, `/api/audit`, `/api/usage`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmstack.api.schemas import BY_VALUE, NOT_BLANK, STRICT, Identified
from mmstack.auth.accounts import TEAM_NAME_PATTERN, USERNAME_PATTERN
from mmstack.auth.logins import TokenPair
from mmstack.auth.roles import ROLE_PERMISSIONS, EndpointGroup, Role
from mmstack.json_numbers import JsonInt
from mmstack.store.models import ApiKey, AuditEvent, Team, Usage, User

SECRET = Field(min_length=1, max_length=1024)


class Quotas(BaseModel):
    """Limits (0: none); a limit left out is the configured default."""

    model_config = ConfigDict(strict=True, extra="forbid")

    requests_per_minute: JsonInt | None = Field(None, ge=0)
    tokens_per_day: JsonInt | None = Field(None, ge=0)
    upload_bytes_per_day: JsonInt | None = Field(None, ge=0)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class LoginRequest(BaseModel):
    model_config = STRICT

    username: str = Field(min_length=1, max_length=128)
    password: str = SECRET
    totp_code: str | None = Field(None, max_length=16)
    recovery_code: str | None = Field(None, max_length=32)


class RefreshRequest(BaseModel):
    model_config = STRICT

    refresh_token: str = SECRET


class LogoutRequest(BaseModel):
    model_config = STRICT

    everywhere: bool = Field(False, description="End every login of this user")


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme's name)
    expires_at: int
    refresh_token: str
    session_id: str
    user_id: str

    @classmethod
    def of(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token,
            expires_at=pair.expires_at,
            refresh_token=pair.refresh_token,
            session_id=pair.session_id,
            user_id=pair.user_id,
        )


class PasswordChange(BaseModel):
    model_config = STRICT

    current_password: str = SECRET
    new_password: str = SECRET


class PasswordReset(BaseModel):
    model_config = STRICT

    password: str | None = Field(
        None, max_length=1024, description="The new password (default: generated, shown once)"
    )


class TotpCode(BaseModel):
    model_config = STRICT

    code: str = Field(min_length=1, max_length=16)


class TotpDisable(BaseModel):
    model_config = STRICT

    password: str = SECRET
    code: str | None = Field(None, max_length=16)
    recovery_code: str | None = Field(None, max_length=32)


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code, an SVG data: URI")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Each works once; shown only now")


class UserOut(BaseModel):
    id: str
    object: Literal["user"] = "user"
    username: str
    team_id: str
    role: Role
    permissions: list[str]
    disabled: bool
    mfa_enabled: bool
    password_change_due: bool = Field(
        description="The password was generated or reset by an admin: the user should choose one"
    )
    quotas: dict[str, int] | None
    created_at: int

    @classmethod
    def of(cls, user: User) -> UserOut:
        role = Role(user.role)
        return cls(
            id=user.id,
            username=user.username,
            team_id=user.team_id,
            role=role,
            permissions=sorted(ROLE_PERMISSIONS[role]),
            disabled=user.disabled,
            mfa_enabled=user.totp_enabled,
            password_change_due=user.password_change_due,
            quotas=user.quotas,
            created_at=user.created_at,
        )


class UserCreate(BaseModel):
    model_config = STRICT

    username: str = Field(
        max_length=128,
        json_schema_extra={"pattern": USERNAME_PATTERN},
        description="Letters (stored in lower case), digits and . _ @ + -",
    )
    role: Annotated[Role, BY_VALUE] = Role.VIEWER
    team: str | None = Field(None, description="Team id or name (default: the default team)")
    password: str | None = Field(
        None, max_length=1024, description="Default: generated, returned once"
    )


class UserCreated(UserOut):
    password: str | None = Field(None, description="The generated password, shown only now")


class UserUpdate(BaseModel):
    model_config = STRICT

    role: Annotated[Role, BY_VALUE] | None = None
    disabled: bool | None = None
    quotas: Quotas | None = Field(None, description="Limits of this user; {} for the defaults")


class TeamCreate(BaseModel):
    model_config = STRICT

    name: str = Field(max_length=128, json_schema_extra={"pattern": TEAM_NAME_PATTERN})


class TeamOut(BaseModel):
    id: str
    object: Literal["team"] = "team"
    name: str
    created_at: int

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls.model_validate(team, from_attributes=True)


class KeyCreate(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=128, json_schema_extra=NOT_BLANK)
    access: Literal["read", "write"] = "write"
    endpoints: list[Annotated[EndpointGroup, BY_VALUE]] | None = Field(
        None, min_length=1, description="Endpoint groups the key may use (default: all)"
    )
    collections: list[str] | None = Field(
        None, description="Collection (vector store) ids the key may use (default: all)"
    )
    expires_in_days: JsonInt | None = Field(None, ge=1, le=3650)
    user: str | None = Field(None, description="Admins: make the key for this user")
    quotas: Quotas | None = Field(None, description="Admins: limits of this key")


class KeyOut(BaseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    prefix: str
    user_id: str
    team_id: str
    access: str
    endpoints: list[str] | None
    collections: list[str] | None
    quotas: dict[str, int] | None
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=f"mmk_{key.id}",
            user_id=key.user_id,
            team_id=key.team_id,
            access=key.access,
            endpoints=key.endpoints,
            collections=key.collections,
            quotas=key.quotas,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown only now, store it safely")


class AuditEventOut(BaseModel):
    id: int
    at: float
    action: str
    result: str
    actor_id: str | None
    key_id: str | None
    team_id: str | None
    target: str | None
    address: str | None
    request_id: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls.model_validate(event, from_attributes=True)


class UsageOut(BaseModel):
    day: str  # YYYY-MM-DD (UTC)
    user_id: str
    key_id: str | None
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    upload_bytes: int

    @classmethod
    def of(cls, row: Usage, day: str) -> UsageOut:
        return cls(
            day=day,
            user_id=row.user_id,
            key_id=row.key_id or None,
            model=row.model or None,
            requests=row.requests,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            upload_bytes=row.upload_bytes,
        )


class UsageSummaryOut(Identified):
    """One group of a usage summary. `id` names the group (its dimensions' values, joined
    by "/"): the cursor for `after`."""

    day: str | None  # YYYY-MM-DD (UTC), when grouped by day
    user_id: str | None
    username: str | None
    key_id: str | None
    team_id: str | None
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    upload_bytes: int
    timed_requests: int = Field(description="The model calls whose time was counted")
    latency_p50: float | None = Field(description="Seconds, from the request's arrival")
    latency_p95: float | None
    latency_p99: float | None
