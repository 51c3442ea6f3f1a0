"""Rate limits and daily quotas per user and per key, and usage accounting per user, key
and model. Requests per minute are counted in a sliding window of one minute: in this
process (`LocalWindows`), or by `limits` in Redis for several processes; daily token and
upload totals come from the `usage` table."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from mmstack import metrics
from mmstack.auth.principal import Principal
from mmstack.config.settings import QuotaSettings
from mmstack.errors import InvalidRequestError, RateLimitError
from mmstack.store import usage as rows
from mmstack.store.db import Database
from mmstack.store.models import Usage
from mmstack.store.usage_report import Dimension, UsageSummary, add_latency, usage_summaries

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
        if storage is None and settings.redis_address:
            storage = _storage(settings.redis_address)
        self._limiter = SlidingWindowCounterRateLimiter(storage) if storage else None
        self._uploads_per_minute = settings.upload_requests_per_minute
        self._windows = LocalWindows()

    def limits_of(self, quotas: dict[str, Any] | None, fallback: Limits | None = None) -> Limits:
        base = fallback or self._defaults
        if not quotas:
            return base
        return Limits(
            quotas.get("requests_per_minute", base.requests_per_minute),
            quotas.get("tokens_per_day", base.tokens_per_day),
            quotas.get("upload_bytes_per_day", base.upload_bytes_per_day),
        )

    def check_request(self, principal: Principal, *, upload: bool = False) -> None:
        """Count one request against the user's and the key's per-minute limits; an
        upload against the per-minute uploads instead (`upload_requests_per_minute`)."""
        if upload:
            limit = self._uploads_per_minute
            self._hit(limit, "user", principal.user_id, what="uploads")
            if principal.key_id is not None:
                self._hit(limit, "key", principal.key_id, what="uploads")
            return
        user = self.limits_of(principal.user_quotas)
        self._hit(user.requests_per_minute, "user", principal.user_id)
        if principal.key_id is not None:
            key = self.limits_of(principal.key_quotas, user)
            self._hit(key.requests_per_minute, "key", principal.key_id)

    def check_tokens(self, principal: Principal) -> None:
        """Refuse before a model call when today's tokens are used up (one query for the
        user's and the key's totals, none when neither has a daily limit)."""
        user = self.limits_of(principal.user_quotas)
        key_limit = 0
        if principal.key_id is not None:
            key = self.limits_of(principal.key_quotas, user)
            if key.tokens_per_day != user.tokens_per_day:
                key_limit = key.tokens_per_day
        if not user.tokens_per_day and not key_limit:
            return
        with self._db.engine.connect() as connection:
            user_used, key_used = rows.tokens_on(
                connection, today(), user_id=principal.user_id, key_id=principal.key_id or ""
            )
        if user.tokens_per_day and user_used >= user.tokens_per_day:
            raise _daily("tokens", user_used, user.tokens_per_day)
        if key_limit and key_used >= key_limit:
            raise _daily("tokens", key_used, key_limit)

    def check_upload(self, principal: Principal, size: int) -> None:
        """Refuse an upload that would pass today's upload bytes."""
        user = self.limits_of(principal.user_quotas)
        limits = [(user.upload_bytes_per_day, {"user_id": principal.user_id})]
        if principal.key_id is not None:
            key = self.limits_of(principal.key_quotas, user)
            limits.append((key.upload_bytes_per_day, {"key_id": principal.key_id}))
        for limit, who in limits:
            if limit and self._uploaded_today(who) + size > limit:
                raise _daily("upload bytes", self._uploaded_today(who), limit)

    def record(
        self,
        principal: Principal,
        *,
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        upload_bytes: int = 0,
        seconds: float | None = None,
    ) -> None:
        """Add one request's use to today's row for its user, key and model, and its
        time (`seconds`, for a model call) to the day's latency counts."""
        day = today()
        user_id, key_id = principal.user_id, principal.key_id or ""
        with self._db.session(write=True) as session:
            rows.add_usage(
                session,
                self._db,
                day=day,
                user_id=user_id,
                key_id=key_id,
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                upload_bytes=upload_bytes,
            )
            if seconds is not None:
                add_latency(
                    session,
                    self._db,
                    day=day,
                    user_id=user_id,
                    key_id=key_id,
                    model=model,
                    seconds=seconds,
                )

    def summaries(
        self,
        *,
        since_day: int,
        until_day: int,
        by: Sequence[Dimension],
        user_ids: list[str] | None = None,
    ) -> list[UsageSummary]:
        """Usage of the days [since_day, until_day] summed by `by`, with latency percentiles."""
        with self._db.session() as session:
            return usage_summaries(
                session, since_day=since_day, until_day=until_day, by=by, user_ids=user_ids
            )

    def usage(
        self, *, since_day: int, until_day: int, user_ids: list[str] | None = None
    ) -> list[Usage]:
        """Usage rows of the days [since_day, until_day] (of `user_ids` only, when given)."""
        with self._db.session() as session:
            return rows.usage_rows(
                session, since_day=since_day, until_day=until_day, user_ids=user_ids
            )

    def check_login_attempt(self, address: str | None, per_minute: int) -> None:
        """Count one login or refresh attempt from `address` (a client spraying passwords
        over many accounts meets this; one account's own lockout stops guessing at it)."""
        self._hit(per_minute, "address", address or "unknown")

    def _hit(self, per_minute: int, kind: str, who: str, *, what: str = "requests") -> None:
        if not per_minute:
            return
        counted = kind if what == "requests" else f"{what}-{kind}"
        if self._limiter is None:
            wait = self._windows.hit(per_minute, counted, who, time.time())
        else:
            item = _per_minute(per_minute)
            wait = None
            if not self._limiter.hit(item, counted, who):
                stats = self._limiter.get_window_stats(item, counted, who)
                wait = stats.reset_time - time.time()
        if wait is not None:
            metrics.rate_limited.labels(f"{what} per minute").inc()
            raise RateLimitError(
                f"rate limit of {per_minute} {what} per minute per {kind} reached",
                retry_after=max(1.0, wait),
            )

    def check(self) -> None:
        """With counters in Redis, it answers (a ConnectionError otherwise)."""
        if self._limiter is not None and not self._limiter.storage.check():
            raise ConnectionError("the rate-limit counters' Redis does not answer")

    def _uploaded_today(self, who: dict[str, str]) -> int:
        """The bytes uploaded today by a user ({"user_id": ...}) or a key ({"key_id": ...})."""
        with self._db.engine.connect() as connection:
            return rows.upload_bytes_on(connection, today(), **who)


@lru_cache(maxsize=64)
def _per_minute(limit: int) -> RateLimitItemPerMinute:
    return RateLimitItemPerMinute(limit)


class LocalWindows:
    """Requests per minute counted in this process, as `limits`' sliding window counter
    counts them: the previous minute's count weighted by the share of it still inside the
    last 60 s, plus this minute's. Not `limits`' MemoryStorage, which starts a timer thread
    on the first hit after every pause of 10 ms (on a server not fully busy, about one
    thread per request: more than the rest of authentication costs; bench/auth.py)."""

    WINDOW: Final = 60

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (kind, who) -> [minute, count in that minute, count in the minute before]
        self._counts: dict[tuple[str, str], list[int]] = {}
        self._swept = 0

    def hit(self, limit: int, kind: str, who: str, now: float) -> float | None:
        """Count one request if the limit allows it (None); else the seconds until the
        weighted count drops by one, and nothing is counted."""
        minute = int(now // self.WINDOW)
        left = self.WINDOW - now % self.WINDOW  # the previous minute's weight, in seconds
        with self._lock:
            if minute != self._swept:  # forget who made no request for two minutes
                self._counts = {k: v for k, v in self._counts.items() if v[0] >= minute - 1}
                self._swept = minute
            entry = self._counts.setdefault((kind, who), [minute, 0, 0])
            if entry[0] != minute:
                entry[2] = entry[1] if entry[0] == minute - 1 else 0
                entry[0], entry[1] = minute, 0
            current, previous = entry[1], entry[2]
            if math.floor(previous * left / self.WINDOW + current) + 1 <= limit:
                entry[1] += 1
                return None
        reset = left if current else math.inf
        if previous:
            reset = min(reset, left % (self.WINDOW / previous))
        return reset


def _storage(redis_url: str) -> Storage:
    storage = storage_from_string(redis_url)
    if not isinstance(storage, Storage):
        raise TypeError("quotas.redis_url names an asynchronous storage")
    return storage


def _daily(what: str, used: int, limit: int) -> RateLimitError:
    metrics.rate_limited.labels(f"{what} per day").inc()
    return RateLimitError(
        f"daily quota of {limit:,} {what} used up ({used:,} used today); it renews at 00:00 UTC",
        retry_after=seconds_to_midnight(),
    )


class Meter:
    """One caller's quotas and usage, for the routes that upload or call a model."""

    def __init__(self, quotas: QuotaService, principal: Principal) -> None:
        self._quotas = quotas
        self._principal = principal
        self._started = time.monotonic()  # made when the request arrives

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
            seconds=time.monotonic() - self._started,
        )
