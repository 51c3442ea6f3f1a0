"""Stored responses on SQLite and PostgreSQL: kept per team, continued along their chain,
gone when deleted or expired."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.llm.stored_responses import MAX_CHAIN, ResponseStore
from mmstack.stack import Stack
from mmstack.store.models import DEFAULT_TEAM_ID, StoredResponse, Team
from mmstack.store.ownership import Owner


def _save(store: ResponseStore, n: int, previous: str | None = None) -> str:
    response_id = f"resp_{n}"
    turns = [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}]
    store.save({"id": response_id, "n": n}, turns=turns, previous_response_id=previous)
    return response_id


def test_a_chain_is_one_conversation_of_its_team(stack: Stack) -> None:
    with stack.db.session(write=True) as session:
        session.add(Team(id="team_other", name="other"))
    mine = stack.stored_responses.for_owner(Owner(DEFAULT_TEAM_ID))
    theirs = stack.stored_responses.for_owner(Owner("team_other"))
    first = _save(mine, 1)
    second = _save(mine, 2, first)
    assert mine.get(second) == {"id": "resp_2", "n": 2}
    assert [t["content"] for t in mine.conversation(second)] == ["q1", "a1", "q2", "a2"]
    for call in (theirs.get, theirs.conversation, theirs.delete):
        with pytest.raises(NotFoundError):
            call(second)
    # Another team's response is not part of a conversation either.
    _save(theirs, 3, second)
    assert [t["content"] for t in theirs.conversation("resp_3")] == ["q3", "a3"]
    mine.delete(first)
    assert [t["content"] for t in mine.conversation(second)] == ["q2", "a2"]


def test_expired_responses_are_gone(stack: Stack) -> None:
    store = stack.stored_responses.for_owner(Owner(DEFAULT_TEAM_ID))
    old = _save(store, 1)
    with stack.db.session(write=True) as session:
        session.execute(update(StoredResponse).values(expires_at=int(time.time()) - 1))
    with pytest.raises(NotFoundError):
        store.get(old)
    _save(store, 2)  # saving removes what has expired
    with stack.db.session() as session:
        assert session.get(StoredResponse, old) is None


def test_a_long_chain_is_read_up_to_its_bound(stack: Stack) -> None:
    store = stack.stored_responses.for_owner(Owner(DEFAULT_TEAM_ID))
    previous = None
    for n in range(MAX_CHAIN + 5):
        previous = _save(store, n, previous)
    assert previous is not None
    turns = store.conversation(previous)
    assert len(turns) == 2 * MAX_CHAIN
    assert turns[-1]["content"] == f"a{MAX_CHAIN + 4}"


def test_keeping_none(stack: Stack) -> None:
    store = ResponseStore(stack.db, keep_days=0).for_owner(Owner(DEFAULT_TEAM_ID))
    _save(store, 1)
    with pytest.raises(NotFoundError):
        store.get("resp_1")
    with pytest.raises(InvalidRequestError, match="stored_response_days"):
        store.conversation("resp_1")
