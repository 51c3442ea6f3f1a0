"""Who owns data, as the services see it: an `Owner` (a team, and with an API key limited to
some collections, only those). Services bound to an owner (`for_owner`) find nothing else:
another team's collection or file is "not found", exactly like one that does not exist.
Unbound services (the CLI on the local data directory, the job worker) see everything."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Self

from sqlalchemy import ColumnElement, and_, true

from mmstack.store.models import Collection, StoredFile


@dataclass(frozen=True, slots=True)
class Owner:
    team_id: str
    collection_ids: frozenset[str] | None = None  # None: every collection of the team


def owns_collection(owner: Owner | None) -> ColumnElement[bool]:
    """The SQL condition for the collections `owner` may see (all, with no owner)."""
    if owner is None:
        return true()
    condition = Collection.team_id == owner.team_id
    if owner.collection_ids is not None:
        condition = and_(condition, Collection.id.in_(sorted(owner.collection_ids)))
    return condition


def owns_file(owner: Owner | None) -> ColumnElement[bool]:
    if owner is None:
        return true()
    return StoredFile.team_id == owner.team_id


class OwnerScoped:
    """A service that can be bound to an owner; `for_owner` returns a bound copy."""

    _owner: Owner | None = None

    def for_owner(self, owner: Owner) -> Self:
        bound = copy.copy(self)
        bound._owner = owner
        bound._bind_parts(owner)
        return bound

    def _bind_parts(self, owner: Owner) -> None:
        """Bind the services this one uses (override when it holds any)."""

    @property
    def owner(self) -> Owner | None:
        return self._owner
