"""Queries about usage (the repository of `mmstack.auth`'s quotas): one row per UTC day,
user, key and model, added to after each request; today's totals for the daily quotas;
the rows of a report."""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, bindparam, case, func, select
from sqlalchemy.orm import Session

from mmstack.store.db import Database
from mmstack.store.models import Usage

# A key's usage rows are all its user's (a key never changes hands), so one pass over the
# user's rows of the day gives both totals.
_TOKENS: Final = Usage.prompt_tokens + Usage.completion_tokens
_TOKENS_TODAY: Final = select(
    func.coalesce(func.sum(_TOKENS), 0),
    func.coalesce(func.sum(case((Usage.key_id == bindparam("key_id"), _TOKENS), else_=0)), 0),
).where(Usage.day == bindparam("day"), Usage.user_id == bindparam("user_id"))


def tokens_on(connection: Connection, day: int, *, user_id: str, key_id: str) -> tuple[int, int]:
    """The tokens the user used on `day`, and those of them used through key `key_id`."""
    totals = connection.execute(
        _TOKENS_TODAY, {"day": day, "user_id": user_id, "key_id": key_id}
    ).one()
    return int(totals[0]), int(totals[1])  # PostgreSQL sums are numeric


def upload_bytes_on(
    connection: Connection, day: int, *, user_id: str | None = None, key_id: str | None = None
) -> int:
    """The bytes uploaded on `day` by the user, or through the key, given."""
    who = []
    if user_id is not None:
        who.append(Usage.user_id == user_id)
    if key_id is not None:
        who.append(Usage.key_id == key_id)
    return int(
        connection.scalar(select(func.sum(Usage.upload_bytes)).where(Usage.day == day, *who)) or 0
    )


def add_usage(
    session: Session,
    db: Database,
    *,
    day: int,
    user_id: str,
    key_id: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    upload_bytes: int,
) -> None:
    """Add one request's use to the row of its day, user, key and model (`db` gives its
    dialect's upsert)."""
    values = {
        "day": day,
        "user_id": user_id,
        "key_id": key_id,
        "model": model,
        "requests": 1,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "upload_bytes": upload_bytes,
    }
    stmt = db.upsert(Usage).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "user_id", "key_id", "model"],
        set_={
            "requests": Usage.requests + 1,
            "prompt_tokens": Usage.prompt_tokens + prompt_tokens,
            "completion_tokens": Usage.completion_tokens + completion_tokens,
            "upload_bytes": Usage.upload_bytes + upload_bytes,
        },
    )
    session.execute(stmt)


def usage_rows(
    session: Session, *, since_day: int, until_day: int, user_ids: list[str] | None = None
) -> list[Usage]:
    """Usage rows of the days [since_day, until_day] (of `user_ids` only, when given)."""
    stmt = (
        select(Usage)
        .where(Usage.day >= since_day, Usage.day <= until_day)
        .order_by(Usage.day, Usage.user_id, Usage.key_id, Usage.model)
    )
    if user_ids is not None:
        stmt = stmt.where(Usage.user_id.in_(user_ids))
    return list(session.scalars(stmt))
