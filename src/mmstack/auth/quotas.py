"""Rate limits and daily quotas per user and per key, and usage accounting per user, key
and model. Requests per minute are counted by `limits` (in this process, or in Redis for
several processes); daily token and upload totals come from the `usage` table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mmstack.auth.principal import Principal
from mmstack.config.settings import QuotaSettings
from mmstack.errors import InvalidRequestError, RateLimitError
from mmstack.store.db import Database
from mmstack.store.models import Usage

DAY: Final = 86400
QUOTA_NAMES: Final = ("requests_per_minute", "tokens_per_day", "upload_bytes_per_day")


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_minute: int
    tokens_per_day: int
    upload_bytes_per_day: int


def today() -> int:
    return int(time.time() // DAY)


def seconds_to_midnight() -> float:
    return DAY - time.time() % DAY


def check_quota_overrides(quotas: dict[str, Any] | None) -> dict[str, int] | None:
    """Validate limits an admin sets for a user or key: known names, whole numbers >= 0."""
    if quotas is None:
        return None
    for name, value in quotas.items():
        if name not in QUOTA_NAMES:
            raise InvalidRequestError(
                f"unknown quota '{name}'; one of {', '.join(QUOTA_NAMES)}", param="quotas"
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidRequestError(f"quota '{name}' must be a whole number >= 0", param="quotas")
    return {name: int(value) for name, value in quotas.items()}


class QuotaService:
    def __init__(
        self, db: Database, settings: QuotaSettings, storage: Storage | None = None
    ) -> None:
        self._db = db
        self._defaults = Limits(
            settings.requests_per_minute, settings.tokens_per_day, settings.upload_bytes_per_day
        )
        if storage is None:
            storage = _storage(settings.redis_url)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._insert = pg_insert if db.dialect == "postgresql" else sqlite_insert

    def limits_of(self, quotas: dict[str, Any] | None, fallback: Limits | None = None) -> Limits:
        base = fallback or self._defaults
        if not quotas:
            return base
        return Limits(
            quotas.get("requests_per_minute", base.requests_per_minute),
            quotas.get("tokens_per_day", base.tokens_per_day),
            quotas.get("upload_bytes_per_day", base.upload_bytes_per_day),
        )

    def check_request(self, principal: Principal) -> None:
        """Count one request against the user's and the key's per-minute limits."""
        user = self.limits_of(principal.user_quotas)
        self._hit(user.requests_per_minute, "user", principal.user_id)
        if principal.key_id is not None:
            key = self.limits_of(principal.key_quotas, user)
            self._hit(key.requests_per_minute, "key", principal.key_id)

    def check_tokens(self, principal: Principal) -> None:
        """Refuse before a model call when today's tokens are used up."""
        user = self.limits_of(principal.user_quotas)
        if user.tokens_per_day:
            used = self._used_today(Usage.user_id == principal.user_id, tokens=True)
            if used >= user.tokens_per_day:
                raise _daily("tokens", used, user.tokens_per_day)
        if principal.key_id is not None:
            key = self.limits_of(principal.key_quotas, user)
            if key.tokens_per_day and key.tokens_per_day != user.tokens_per_day:
                used = self._used_today(Usage.key_id == principal.key_id, tokens=True)
                if used >= key.tokens_per_day:
                    raise _daily("tokens", used, key.tokens_per_day)

    def check_upload(self, principal: Principal, size: int) -> None:
        """Refuse an upload that would pass today's upload bytes."""
        user = self.limits_of(principal.user_quotas)
        limits = [(user.upload_bytes_per_day, Usage.user_id == principal.user_id)]
        if principal.key_id is not None:
            key = self.limits_of(principal.key_quotas, user)
            limits.append((key.upload_bytes_per_day, Usage.key_id == principal.key_id))
        for limit, who in limits:
            if limit and self._used_today(who, tokens=False) + size > limit:
                raise _daily("upload bytes", self._used_today(who, tokens=False), limit)

    def record(
        self,
        principal: Principal,
        *,
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        upload_bytes: int = 0,
    ) -> None:
        """Add one request's use to today's row for its user, key and model."""
        values = {
            "day": today(),
            "user_id": principal.user_id,
            "key_id": principal.key_id or "",
            "model": model,
            "requests": 1,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "upload_bytes": upload_bytes,
        }
        stmt = self._insert(Usage).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["day", "user_id", "key_id", "model"],
            set_={
                "requests": Usage.requests + 1,
                "prompt_tokens": Usage.prompt_tokens + prompt_tokens,
                "completion_tokens": Usage.completion_tokens + completion_tokens,
                "upload_bytes": Usage.upload_bytes + upload_bytes,
            },
        )
        with self._db.session(write=True) as session:
            session.execute(stmt)

    def usage(
        self, *, since_day: int, until_day: int, user_ids: list[str] | None = None
    ) -> list[Usage]:
        """Usage rows of the days [since_day, until_day] (of `user_ids` only, when given)."""
        stmt = (
            select(Usage)
            .where(Usage.day >= since_day, Usage.day <= until_day)
            .order_by(Usage.day, Usage.user_id, Usage.key_id, Usage.model)
        )
        if user_ids is not None:
            stmt = stmt.where(Usage.user_id.in_(user_ids))
        with self._db.session() as session:
            return list(session.scalars(stmt))

    def _hit(self, per_minute: int, kind: str, who: str) -> None:
        if not per_minute:
            return
        item = RateLimitItemPerMinute(per_minute)
        if not self._limiter.hit(item, kind, who):
            reset = self._limiter.get_window_stats(item, kind, who).reset_time
            raise RateLimitError(
                f"rate limit of {per_minute} requests per minute per {kind} reached",
                retry_after=max(1.0, reset - time.time()),
            )

    def _used_today(self, who: Any, *, tokens: bool) -> int:
        column = (
            func.sum(Usage.prompt_tokens + Usage.completion_tokens)
            if tokens
            else func.sum(Usage.upload_bytes)
        )
        with self._db.session() as session:
            return int(session.scalar(select(column).where(Usage.day == today(), who)) or 0)


def _storage(redis_url: str | None) -> Storage:
    if not redis_url:
        return MemoryStorage()
    storage = storage_from_string(redis_url)
    if not isinstance(storage, Storage):
        raise TypeError(f"{redis_url} names an asynchronous storage")
    return storage


def _daily(what: str, used: int, limit: int) -> RateLimitError:
    return RateLimitError(
        f"daily quota of {limit:,} {what} used up ({used:,} used today); it renews at 00:00 UTC",
        retry_after=seconds_to_midnight(),
    )


class Meter:
    """One caller's quotas and usage, for the routes that upload or call a model."""

    def __init__(self, quotas: QuotaService, principal: Principal) -> None:
        self._quotas = quotas
        self._principal = principal

    def check_upload(self, size: int) -> None:
        self._quotas.check_upload(self._principal, size)

    def record_upload(self, size: int) -> None:
        self._quotas.record(self._principal, upload_bytes=size)

    def check_tokens(self) -> None:
        self._quotas.check_tokens(self._principal)

    def record_tokens(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        self._quotas.record(
            self._principal,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
