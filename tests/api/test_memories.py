"""`/api/memories`: one's own memories, under one's own control (list, search, add, change
with history, delete, export, off), and nobody else's to read, not even an admin's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from tests.api.live_server import LiveServer, serve
from tests.api.openai.conftest import upstream_settings
from tests.llm.fake_upstream import FakeUpstream


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> Iterator[LiveServer]:
    settings = upstream_settings(tmp_path_factory.mktemp("memories"), fake_upstream.base_url)
    with serve(settings) as live:
        yield live


def _person(server: LiveServer, username: str, role: Role) -> dict[str, str]:
    accounts = server.stack.auth.accounts
    accounts.create_user(username, role=role, actor=Actor.local())
    access: Literal["read", "write"] = "read" if role == Role.VIEWER else "write"
    _, token = server.stack.auth.keys.create(username, name="k", actor=Actor.local(), access=access)
    return {"Authorization": f"Bearer {token}"}


class Memories:
    def __init__(self, server: LiveServer, headers: dict[str, str]) -> None:
        self.api = server.base_url.removesuffix("/v1") + "/api"
        self.headers = headers

    def __call__(self, method: str, path: str = "", **options: Any) -> httpx.Response:
        """`/api/memories` + `path`."""
        return httpx.request(method, f"{self.api}/memories{path}", headers=self.headers, **options)

    def whole(self, method: str, path: str = "", **options: Any) -> httpx.Response:
        """`/api/memory` + `path`: the setting, the export."""
        return httpx.request(method, f"{self.api}/memory{path}", headers=self.headers, **options)


def test_memories_are_kept_changed_and_deleted_by_their_person(server: LiveServer) -> None:
    mine = Memories(server, _person(server, "mem-viewer", Role.VIEWER))  # every role may
    tea = mine("POST", json={"text": "I drink green tea, never coffee.", "kind": "preference"})
    assert tea.status_code == 201, tea.text
    tea_id = tea.json()["id"]
    assert tea.json()["source"] == "manual"
    again = mine("POST", json={"text": "  i drink green tea, never coffee. "})
    assert again.json()["id"] == tea_id  # the same memory, not a second one
    city = mine("POST", json={"text": "I live in Lyon."}).json()

    listed = mine("GET").json()["data"]
    assert [m["text"] for m in listed] == ["I live in Lyon.", "I drink green tea, never coffee."]
    assert [m["id"] for m in mine("GET", params={"q": "LYON"}).json()["data"]] == [city["id"]]
    assert mine("GET", params={"q": "100%"}).json()["data"] == []

    # A fact that changes: the newer wins, the old one is its history.
    moved = mine("PUT", f"/{city['id']}", json={"text": "I live in Porto."})
    assert moved.status_code == 200, moved.text
    now = moved.json()
    assert [old["text"] for old in now["history"]] == ["I live in Lyon."]
    assert [m["text"] for m in mine("GET").json()["data"]] == [
        "I live in Porto.",
        "I drink green tea, never coffee.",
    ]
    stale = mine("PUT", f"/{city['id']}", json={"text": "I live in Nice."})
    assert (stale.status_code, stale.json()["error"]["param"]) == (400, "memory_id")
    assert mine("GET", f"/{now['id']}").json()["history"][0]["id"] == city["id"]

    exported = mine.whole("GET", "/export").json()
    assert exported["enabled"] is True
    assert [m["text"] for m in exported["memories"]] == [
        "I drink green tea, never coffee.",
        "I live in Lyon.",
        "I live in Porto.",
    ]
    assert mine.whole("PUT", json={"enabled": False}).json() == {"enabled": False}
    assert mine.whole("GET").json() == {"enabled": False}
    assert mine("GET").json()["data"]  # turning memory off deletes nothing

    # Deleting a memory deletes its history too.
    assert mine("DELETE", f"/{now['id']}").status_code == 204
    assert [m["text"] for m in mine.whole("GET", "/export").json()["memories"]] == [
        "I drink green tea, never coffee."
    ]
    assert mine("DELETE").json() == {"deleted": 1}
    assert mine.whole("GET", "/export").json()["memories"] == []


def test_bad_memories_are_refused(server: LiveServer) -> None:
    mine = Memories(server, _person(server, "mem-dev", Role.DEVELOPER))
    for body, param in (
        ({"text": ""}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"text": "ok", "kind": "secret"}, "kind"),
        ({"txt": "typo"}, "text"),
    ):
        refused = mine("POST", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == param
    assert mine("GET", "/mem_nope").status_code == 404
    assert mine("GET").json()["data"] == []


def test_nobody_else_reads_a_persons_memories(server: LiveServer) -> None:
    owner = Memories(server, _person(server, "mem-owner", Role.DEVELOPER))
    secret = owner("POST", json={"text": "My doctor's appointment is on Friday."}).json()
    admin = Memories(server, server.headers)  # the first admin, of the same team
    teammate = Memories(server, _person(server, "mem-teammate", Role.DEVELOPER))
    for other in (admin, teammate):
        assert other("GET").json()["data"] == []
        assert other("GET", params={"q": "doctor"}).json()["data"] == []
        assert other("GET", f"/{secret['id']}").status_code == 404
        assert other("PUT", f"/{secret['id']}", json={"text": "changed"}).status_code == 404
        assert other("DELETE", f"/{secret['id']}").status_code == 404
        assert other("DELETE").json() == {"deleted": 0}
        assert other.whole("GET", "/export").json()["memories"] == []
    assert [m["id"] for m in owner("GET").json()["data"]] == [secret["id"]]
