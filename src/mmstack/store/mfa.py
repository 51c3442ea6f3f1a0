"""Queries about second factors (the repository of `mmstack.auth`'s MFA): TOTP secrets
still stored in clear, and recovery codes."""

from __future__ import annotations

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from mmstack.store.models import RecoveryCode, User


def _in_clear(sealed_prefix: str) -> Select[User]:
    return select(User).where(
        User.totp_secret.is_not(None), User.totp_secret.not_like(f"{sealed_prefix}%")
    )


def any_secret_in_clear(session: Session, sealed_prefix: str) -> bool:
    """Whether a user's TOTP secret is stored without `sealed_prefix` (in clear)."""
    found = session.scalar(_in_clear(sealed_prefix).with_only_columns(User.id).limit(1))
    return found is not None


def users_with_secret_in_clear(session: Session, sealed_prefix: str) -> list[User]:
    """The users whose TOTP secret is stored without `sealed_prefix` (in clear)."""
    return list(session.scalars(_in_clear(sealed_prefix)).all())


def unused_recovery_codes(session: Session, user_id: str) -> int:
    """How many of the user's recovery codes are not used yet."""
    return len(
        session.scalars(
            select(RecoveryCode.code_hash).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def delete_recovery_codes(session: Session, user_id: str) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
