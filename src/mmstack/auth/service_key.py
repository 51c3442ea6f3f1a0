"""The service key: an API key whose value a deployment generates (a secret of the stack
file) and hands both to mmstack and to the services that call it (Open WebUI, n8n). At
start mmstack makes sure the key exists for the service user; a new value (a rotation)
revokes the previous one."""

from __future__ import annotations

import time
from typing import Final

from sqlalchemy.exc import IntegrityError

from mmstack.auth.accounts import AccountService
from mmstack.auth.audit import Actor, AuditLog
from mmstack.auth.roles import Role
from mmstack.auth.secrets_format import digest, split_api_key
from mmstack.errors import ConflictError, InvalidRequestError, NotFoundError
from mmstack.store import api_keys as rows
from mmstack.store.db import Database
from mmstack.store.models import ApiKey, User

SERVICE_KEY_NAME: Final = "service key (from the deployment's secrets)"


def ensure_service_key(
    db: Database, accounts: AccountService, audit: AuditLog, token: str, *, username: str
) -> str:
    """Register `token` for the service user (made as a developer when missing); returns
    the key id."""
    parts = split_api_key(token)
    if parts is None:
        raise InvalidRequestError("auth.service_key must be an mmstack API key: mmk_<id>_<secret>")
    key_id, secret = parts
    try:
        user = accounts.get_user(username)
    except NotFoundError:
        try:
            user, _ = accounts.create_user(username, role=Role.DEVELOPER, actor=Actor.local())
        except ConflictError:  # processes starting together: another one made it
            user = accounts.get_user(username)
    try:
        return _register(db, audit, user, key_id, secret)
    except IntegrityError:  # another process registered the same key at the same moment
        with db.session() as session:
            existing = session.get(ApiKey, key_id)
            if existing is None or existing.user_id != user.id:
                raise
        return key_id


def _register(db: Database, audit: AuditLog, user: User, key_id: str, secret: str) -> str:
    with db.session(write=True) as session:
        existing = session.get(ApiKey, key_id)
        if existing is not None:
            if existing.user_id != user.id:
                raise InvalidRequestError("auth.service_key collides with another user's key")
            return key_id
        session.add(
            ApiKey(
                id=key_id,
                user_id=user.id,
                team_id=user.team_id,
                name=SERVICE_KEY_NAME,
                secret_hash=digest(secret),
                access="write",
            )
        )
        replaced = rows.live_keys_named(session, user.id, SERVICE_KEY_NAME, other_than=key_id)
        if replaced:
            rows.revoke_keys(session, replaced, at=int(time.time()))
        audit.record(
            "key.service",
            Actor.local(),
            target=key_id,
            detail={"user_id": user.id, "revoked": replaced},
            session=session,
        )
    return key_id
