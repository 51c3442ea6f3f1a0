"""API keys: one's own (developers, operators, admins), or anyone's (admins)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query

from mmstack.api.account_schemas import KeyCreate, KeyCreated, KeyOut
from mmstack.api.deps import ActorDep, AuthDep, PrincipalDep, authorize
from mmstack.api.schemas import ListOut
from mmstack.auth.principal import Principal
from mmstack.auth.roles import Permission
from mmstack.errors import PermissionDeniedError

router = APIRouter(
    prefix="/api/keys", tags=["keys"], dependencies=[Depends(authorize(None, Permission.KEYS))]
)


def _only_own(principal: Principal) -> str | None:
    """None for an admin (any key), else the caller's user id (only their keys)."""
    return None if principal.can(Permission.ADMIN) else principal.user_id


@router.post("", status_code=201)
def create_key(
    auth: AuthDep, body: KeyCreate, principal: PrincipalDep, actor: ActorDep
) -> KeyCreated:
    """A new key; the response holds the key itself, which is never shown again."""
    is_admin = principal.can(Permission.ADMIN)
    if (body.user is not None or body.quotas is not None) and not is_admin:
        raise PermissionDeniedError("only an admin can make keys for others or set key quotas")
    expires_at = int(time.time()) + body.expires_in_days * 86400 if body.expires_in_days else None
    key, token = auth.keys.create(
        body.user or principal.user_id,
        name=body.name,
        actor=actor,
        access=body.access,
        endpoints=[e.value for e in body.endpoints] if body.endpoints is not None else None,
        collections=body.collections,
        expires_at=expires_at,
        quotas=body.quotas.as_dict() if body.quotas else None,
    )
    return KeyCreated(**KeyOut.of(key).model_dump(), key=token)


@router.get("")
def list_keys(
    auth: AuthDep,
    principal: PrincipalDep,
    user: str | None = Query(None, description="Admins: the keys of this user id"),
) -> ListOut[KeyOut]:
    own = _only_own(principal)
    keys = auth.keys.list(user_id=own or user)
    return ListOut(data=[KeyOut.of(k) for k in keys])


@router.get("/{key_id}")
def get_key(auth: AuthDep, key_id: str, principal: PrincipalDep) -> KeyOut:
    return KeyOut.of(auth.keys.get(key_id, user_id=_only_own(principal)))


@router.delete("/{key_id}")
def revoke_key(auth: AuthDep, key_id: str, principal: PrincipalDep, actor: ActorDep) -> KeyOut:
    """Revoke a key: it stops working at once."""
    keys = auth.keys
    return KeyOut.of(keys.revoke(key_id, actor=actor, user_id=_only_own(principal)))
