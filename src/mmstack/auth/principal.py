"""Who is asking: a user, logged in or through one of their API keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmstack.auth.roles import EndpointGroup, Permission, Role
from mmstack.errors import PermissionDeniedError
from mmstack.store.ownership import Owner


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    username: str
    team_id: str
    role: Role
    permissions: frozenset[Permission]
    session_id: str | None = None  # a login
    key_id: str | None = None  # an API key
    endpoints: frozenset[str] | None = None  # the key's endpoint groups; None: all
    collection_ids: frozenset[str] | None = None  # the key's collections; None: all
    # Limits an admin set for the user and for the key (None: the configured defaults).
    user_quotas: dict[str, Any] | None = field(default=None, compare=False)
    key_quotas: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def owner(self) -> Owner:
        return Owner(self.team_id, self.collection_ids)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            via = "this API key" if self.key_id else f"the {self.role} role"
            raise PermissionDeniedError(f"{via} does not allow '{permission}' access")

    def require_endpoint(self, group: EndpointGroup) -> None:
        if self.endpoints is not None and group not in self.endpoints:
            raise PermissionDeniedError(f"this API key is not allowed to use '{group}' endpoints")
