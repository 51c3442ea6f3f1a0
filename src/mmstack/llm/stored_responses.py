"""Responses kept for the Responses API (`store`): retrieved by id, deleted, and continued
with `previous_response_id`, whose conversation is the chain of responses before it, each
adding its input and its answer. A team's responses are its own; another team's are "not
found", exactly like ones that do not exist or have expired."""

from __future__ import annotations

import time
from typing import Any, Final

from mmstack.errors import InvalidRequestError
from mmstack.store.db import Database
from mmstack.store.models import DEFAULT_TEAM_ID, StoredResponse
from mmstack.store.ownership import OwnerScoped
from mmstack.store.stored_responses import delete_expired, find_response, visible_response

DAY: Final = 86_400
# The longest chain a conversation is rebuilt from (each link is one query).
MAX_CHAIN: Final = 100


class ResponseStore(OwnerScoped):
    def __init__(self, db: Database, *, keep_days: int) -> None:
        """`keep_days`: how long a response is kept; 0 keeps none (`store` is ignored)."""
        self._db = db
        self._keep_seconds = keep_days * DAY

    @property
    def enabled(self) -> bool:
        return self._keep_seconds > 0

    def save(
        self,
        body: dict[str, Any],
        *,
        turns: list[dict[str, Any]],
        previous_response_id: str | None,
    ) -> None:
        """Keep the response `body` (its `id` among its fields); `turns` are the chat
        messages it adds to its conversation. Expired responses go as new ones come."""
        if not self.enabled:
            return
        moment = int(time.time())
        with self._db.session(write=True) as session:
            delete_expired(session, moment)
            session.add(
                StoredResponse(
                    id=body["id"],
                    team_id=self._owner.team_id if self._owner else DEFAULT_TEAM_ID,
                    previous_response_id=previous_response_id,
                    turns=turns,
                    body=body,
                    created_at=moment,
                    expires_at=moment + self._keep_seconds,
                )
            )

    def get(self, response_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            found = find_response(session, response_id, owner=self._owner, param="response_id")
            return dict(found.body)

    def delete(self, response_id: str) -> None:
        with self._db.session(write=True) as session:
            found = find_response(session, response_id, owner=self._owner, param="response_id")
            session.delete(found)

    def conversation(self, response_id: str) -> list[dict[str, Any]]:
        """The chat messages of the conversation up to and including `response_id`'s
        answer, oldest first."""
        if not self.enabled:
            raise InvalidRequestError(
                "previous_response_id needs stored responses, and this server keeps none "
                "(llm.stored_response_days is 0): send the conversation in `input`",
                param="previous_response_id",
            )
        with self._db.session() as session:
            found = find_response(
                session, response_id, owner=self._owner, param="previous_response_id"
            )
            chain, current = [list(found.turns)], found.previous_response_id
            while current is not None and len(chain) < MAX_CHAIN:
                earlier = visible_response(session, current, owner=self._owner)
                if earlier is None:  # expired or deleted: the conversation starts after it
                    break
                chain.append(list(earlier.turns))
                current = earlier.previous_response_id
        return [turn for turns in reversed(chain) for turn in turns]
