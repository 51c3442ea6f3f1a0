"""API keys: made for a user (shown once), listed, revoked, and checked on each request."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Final, Literal

from mmstack.auth.audit import Actor, AuditLog
from mmstack.auth.principal import Principal
from mmstack.auth.quotas import check_quota_overrides
from mmstack.auth.roles import KEY_PERMISSIONS, ROLE_PERMISSIONS, EndpointGroup, Permission, Role
from mmstack.auth.secrets_format import new_api_key, same_digest, split_api_key
from mmstack.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from mmstack.store import api_keys as rows
from mmstack.store.accounts import find_user
from mmstack.store.collections import team_collection_ids
from mmstack.store.db import Database, json_value
from mmstack.store.models import ApiKey

Access = Literal["read", "write"]
LAST_USED_EVERY: Final = 60.0  # seconds between writes of a key's last use
MAX_NAME: Final = 128


class ApiKeyService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self._lookup = rows.KeyLookup(db.engine)  # what `authenticate` reads, compiled once
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(
        self,
        user: str,
        *,
        name: str,
        actor: Actor,
        access: Access = "write",
        endpoints: Sequence[str] | None = None,
        collections: Sequence[str] | None = None,
        expires_at: int | None = None,
        quotas: dict[str, int] | None = None,
    ) -> tuple[ApiKey, str]:
        """A key for `user` (id or username); returns it and its secret, shown only now.
        It can never do more than its user: a viewer's key is read-only."""
        if not name.strip() or len(name) > MAX_NAME:
            raise InvalidRequestError(f"name must be 1 to {MAX_NAME} characters", param="name")
        if access not in KEY_PERMISSIONS:
            raise InvalidRequestError("access must be 'read' or 'write'", param="access")
        groups = _endpoint_groups(endpoints)
        # Checked here too, not only by the route: a bad limit would fail every request.
        quotas = check_quota_overrides(quotas) or None
        if expires_at is not None and expires_at <= time.time():
            raise InvalidRequestError("expires_at must be in the future", param="expires_at")
        key_id, token, secret_digest = new_api_key()
        with self._db.session(write=True) as session:
            owner = find_user(session, user)
            if access == "write" and Permission.WRITE not in ROLE_PERMISSIONS[Role(owner.role)]:
                raise PermissionDeniedError(
                    f"a {owner.role} cannot have a key with write access", param="access"
                )
            scoped = None
            if collections is not None:
                scoped = sorted(set(collections))
                found = team_collection_ids(session, owner.team_id, scoped)
                if missing := [c for c in scoped if c not in found]:
                    raise NotFoundError(f"collection '{missing[0]}' not found", param="collections")
            key = ApiKey(
                id=key_id,
                user_id=owner.id,
                team_id=owner.team_id,
                name=name.strip(),
                secret_hash=secret_digest,
                access=access,
                endpoints=groups,
                collections=scoped,
                expires_at=expires_at,
                quotas=quotas,
            )
            session.add(key)
            self._audit.record(
                "key.create",
                actor,
                target=key_id,
                detail={
                    "user_id": owner.id,
                    "access": access,
                    "endpoints": groups,
                    "collections": scoped,
                    "expires_at": expires_at,
                },
                session=session,
            )
        return key, token

    def list(self, *, user_id: str | None = None, team_id: str | None = None) -> list[ApiKey]:
        with self._db.session() as session:
            return rows.keys_of(session, user_id=user_id, team_id=team_id)

    def get(self, key_id: str, *, user_id: str | None = None) -> ApiKey:
        """A key; with `user_id`, only one of that user's."""
        with self._db.session() as session:
            key = session.get(ApiKey, key_id)
        if key is None or (user_id is not None and key.user_id != user_id):
            raise NotFoundError(f"API key '{key_id}' not found", param="key_id")
        return key

    def revoke(self, key_id: str, *, actor: Actor, user_id: str | None = None) -> ApiKey:
        """Revoke a key at once (with `user_id`, only one of that user's)."""
        with self._db.session(write=True) as session:
            key = session.get(ApiKey, key_id)
            if key is None or (user_id is not None and key.user_id != user_id):
                raise NotFoundError(f"API key '{key_id}' not found", param="key_id")
            if key.revoked_at is None:
                key.revoked_at = int(time.time())
            self._audit.record("key.revoke", actor, target=key_id, session=session)
        return key

    def authenticate(self, token: str) -> Principal:
        """The user and scopes a presented key stands for. Nothing is cached: a revoked or
        expired key, or a disabled user, is refused on the next request."""
        parts = split_api_key(token)
        if parts is None:
            raise AuthenticationError("the API key is not valid")
        key_id, secret = parts
        now = time.time()
        row = self._lookup.row(key_id)
        if row is None:
            raise AuthenticationError("the API key is not valid")
        (user_id, team_id, secret_hash, access, endpoints, collections, key_quotas) = row[:7]
        (expires_at, revoked_at, username, role_name, disabled, user_quotas) = row[7:]
        if not same_digest(secret, secret_hash):
            raise AuthenticationError("the API key is not valid")
        if revoked_at is not None:
            raise AuthenticationError("the API key has been revoked")
        if expires_at is not None and expires_at <= now:
            raise AuthenticationError("the API key has expired")
        if disabled:
            raise AuthenticationError("the API key's user is disabled")
        self._note_use(key_id, now)
        role = Role(role_name)
        endpoints, collections = json_value(endpoints), json_value(collections)
        return Principal(
            user_id,
            username,
            team_id,
            role,
            ROLE_PERMISSIONS[role] & KEY_PERMISSIONS[access],
            key_id=key_id,
            endpoints=frozenset(endpoints) if endpoints is not None else None,
            collection_ids=frozenset(collections) if collections is not None else None,
            user_quotas=json_value(user_quotas),
            key_quotas=json_value(key_quotas),
        )

    def _note_use(self, key_id: str, now: float) -> None:
        """Record when a key was last used, at most once a minute per key (a write on
        every request would serialize them on SQLite)."""
        with self._lock:
            if now - self._last_used.get(key_id, 0.0) < LAST_USED_EVERY:
                return
            self._last_used[key_id] = now
        with self._db.session(write=True) as session:
            rows.note_use(session, key_id, at=int(now))


def _endpoint_groups(endpoints: Sequence[str] | None) -> list[str] | None:
    if endpoints is None:
        return None
    known = {g.value for g in EndpointGroup}
    if unknown := sorted(set(endpoints) - known):
        raise InvalidRequestError(
            f"unknown endpoint group '{unknown[0]}'; one of {', '.join(sorted(known))}",
            param="endpoints",
        )
    if not endpoints:
        raise InvalidRequestError("endpoints must name at least one group", param="endpoints")
    return sorted(set(endpoints))


def key_dict(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "object": "api_key",
        "name": key.name,
        "prefix": f"mmk_{key.id}",
        "user_id": key.user_id,
        "team_id": key.team_id,
        "access": key.access,
        "endpoints": key.endpoints,
        "collections": key.collections,
        "quotas": key.quotas,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    }
