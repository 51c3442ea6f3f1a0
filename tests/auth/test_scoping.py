"""Services bound to an owner (a team, or a key limited to some collections) see nothing
else: another team's data is "not found", exactly like data that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mmstack.auth.roles import Role
from mmstack.errors import NotFoundError, PermissionDeniedError
from mmstack.stack import Stack
from mmstack.store.models import DEFAULT_TEAM_ID
from mmstack.store.ownership import Owner
from mmstack.store.pagination import PageRequest
from tests.auth.conftest import ADMIN, PASSWORD

ROSES = b"""# Garden notes

Prune the roses in late winter, just above an outward-facing bud.
"""
TURBINES = b"""# Maintenance log

The wind turbine gearbox needs fresh oil every six months.
"""
HARBOUR = b"""# Harbour

The ferry to the island leaves the harbour at seven every morning.
"""


@dataclass
class Teams:
    blue: Owner
    red: Owner
    blue_notes: str  # collection ids
    blue_log: str
    red_notes: str
    blue_file: str  # the file ingested into blue_notes


@pytest.fixture
def teams(stack: Stack) -> Teams:
    red_team = stack.auth.accounts.create_team("red", actor=ADMIN)
    blue, red = Owner(DEFAULT_TEAM_ID), Owner(red_team.id)
    blue_notes = stack.collections.for_owner(blue).create("notes").id
    blue_log = stack.collections.for_owner(blue).create("log").id
    red_notes = stack.collections.for_owner(red).create("notes").id  # same name, other team
    added = stack.intake.add_file(blue_notes, "garden.md", ROSES)
    stack.intake.add_file(blue_log, "turbines.md", TURBINES)
    stack.intake.add_file(red_notes, "harbour.md", HARBOUR)
    stack.worker.run_until_idle()
    return Teams(blue, red, blue_notes, blue_log, red_notes, added.collection_file.file_id)


def test_collections_of_another_team_are_not_found(stack: Stack, teams: Teams) -> None:
    red = stack.collections.for_owner(teams.red)
    assert [c.collection.id for c in red.list_all()] == [teams.red_notes]
    assert red.get("notes").collection.id == teams.red_notes  # its own, by name
    assert red.resolve_id("notes") == teams.red_notes
    for call in (
        lambda: red.get(teams.blue_notes),
        lambda: red.get("log"),
        lambda: red.files(teams.blue_notes),
        lambda: red.file(teams.blue_notes, teams.blue_file),
        lambda: red.delete_file(teams.blue_notes, teams.blue_file),
        lambda: red.delete(teams.blue_notes),
        lambda: red.delete("log"),
    ):
        with pytest.raises(NotFoundError):
            call()
    blue = stack.collections.for_owner(teams.blue)
    assert {c.collection.id for c in blue.list_all()} == {teams.blue_notes, teams.blue_log}
    assert blue.get(teams.blue_notes).file_counts.completed == 1  # nothing was deleted
    assert blue.file(teams.blue_notes, teams.blue_file).file_id == teams.blue_file


def test_files_of_another_team_are_not_found(stack: Stack, teams: Teams) -> None:
    blue, red = stack.files.for_owner(teams.blue), stack.files.for_owner(teams.red)
    uploaded = blue.upload("plan.txt", b"the blue team's plan", purpose="assistants")
    assert uploaded.team_id == DEFAULT_TEAM_ID
    for file_id in (uploaded.id, teams.blue_file):
        with pytest.raises(NotFoundError):
            red.get(file_id)
        with pytest.raises(NotFoundError):
            red.content(file_id)
        with pytest.raises(NotFoundError):
            red.delete(file_id)
    red_ids = {f.id for f in red.list(PageRequest(limit=100)).items}
    assert uploaded.id not in red_ids
    assert teams.blue_file not in red_ids
    assert blue.content(uploaded.id)[1].read() == b"the blue team's plan"
    mine = red.upload("mine.txt", b"red", purpose="assistants")
    assert {f.id for f in red.list(PageRequest(limit=100)).items} == red_ids | {mine.id}


def test_vector_stores_of_another_team_are_not_found(stack: Stack, teams: Teams) -> None:
    blue = stack.collections.for_owner(teams.blue)
    red = stack.collections.for_owner(teams.red)
    blue_file = stack.files.for_owner(teams.blue).upload(
        "plan.txt", b"the blue plan", purpose="assistants"
    )
    store = blue.create(name="blue store")
    for call in (
        lambda: red.get(store.collection.id),
        lambda: red.file_page(store.collection.id, PageRequest()),
        lambda: red.attach(store.collection.id, blue_file.id),
        lambda: red.delete(store.collection.id),
        lambda: red.file_text(teams.blue_notes, teams.blue_file),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert store.collection.id not in {s.collection.id for s in red.list_page(PageRequest()).items}
    # Nor can another team's file be put into one's own store.
    red_store = red.create(name="red store")
    with pytest.raises(NotFoundError):
        red.attach(red_store.collection.id, blue_file.id)
    blue.attach(store.collection.id, blue_file.id)
    assert blue.get(store.collection.id).collection.team_id == DEFAULT_TEAM_ID


def test_search_sees_only_the_teams_collections(stack: Stack, teams: Teams) -> None:
    for mode in ("hybrid", "keyword", "vector"):
        red_hits = stack.search.for_owner(teams.red).search(
            "when to prune the roses",
            mode=mode,
        )
        assert {h.collection_id for h in red_hits} <= {teams.red_notes}, mode
        assert all(b"roses" not in h.text.encode() for h in red_hits), mode
        blue_hits = stack.search.for_owner(teams.blue).search(
            "when to prune the roses",
            mode=mode,
        )
        assert blue_hits, mode
        assert blue_hits[0].file_id == teams.blue_file, mode
    unbound = stack.search.search("ferry harbour island", mode="keyword")
    assert unbound[0].collection_id == teams.red_notes  # it is there to be found


def test_a_key_limited_to_some_collections(stack: Stack, teams: Teams) -> None:
    user, _ = stack.auth.accounts.create_user(
        "alice", role=Role.DEVELOPER, actor=ADMIN, password=PASSWORD
    )
    _, token = stack.auth.keys.create(
        user.id, name="notes only", actor=ADMIN, collections=[teams.blue_notes]
    )
    owner = stack.auth.keys.authenticate(token).owner
    assert owner == Owner(DEFAULT_TEAM_ID, frozenset({teams.blue_notes}))
    collections = stack.collections.for_owner(owner)
    assert [c.collection.id for c in collections.list_all()] == [teams.blue_notes]
    with pytest.raises(NotFoundError):
        collections.get(teams.blue_log)  # the team's, but not the key's
    with pytest.raises(NotFoundError):
        collections.delete(teams.blue_log)
    with pytest.raises(PermissionDeniedError):
        collections.create("new")
    with pytest.raises(PermissionDeniedError):
        stack.collections.for_owner(owner).create(name="new")
    hits = stack.search.for_owner(owner).search("turbine gearbox oil", mode="keyword")
    assert {h.collection_id for h in hits} <= {teams.blue_notes}
    assert stack.search.for_owner(teams.blue).search("turbine gearbox oil", mode="keyword")
    assert collections.get(teams.blue_notes).collection.id == teams.blue_notes


def test_a_team_holding_every_collection_searches_without_a_condition(
    stack: Stack, teams: Teams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no other team's collection, the indexes are searched unfiltered; hydration
    still keeps the owner's chunks only, so a collection another team makes between the
    check and the search is never shown (the check is made to answer as it did before)."""
    bound = stack.search.for_owner(teams.red)
    seen: list[object] = []
    vector_search = stack.vectors.search

    def recording(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("flt"))
        return vector_search(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stack.vectors, "search", recording)
    monkeypatch.setattr(bound._rows, "other_team_has_collection", lambda team_id: False)
    for mode in ("hybrid", "keyword", "vector"):
        hits = bound.search("when to prune the roses", mode=mode)
        assert {h.collection_id for h in hits} <= {teams.red_notes}, mode
        assert all(b"roses" not in h.text.encode() for h in hits), mode
    assert seen
    assert all(flt is None for flt in seen)  # no collection condition was needed
    assert bound.search("ferry harbour island")[0].collection_id == teams.red_notes
