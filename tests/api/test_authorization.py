"""Every route of the OpenAPI document, tried by the wrong people: a user of another team can
neither read, search, change nor delete a team's data; a viewer cannot write; nobody gets in
without a key or token. A route the table below does not cover fails the test."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from mmstack.api.app import create_app
from mmstack.config.settings import (
    AuthSettings,
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    QuotaSettings,
    Settings,
    UpstreamSettings,
)
from mmstack.models.catalog import MINILM_ID
from mmstack.store.models import FileAsset
from tests.api.live_server import client_stack
from tests.llm.fake_upstream import API_KEY, FakeUpstream

# What red's files say: none of it may ever reach another team.
LEDGER_TEXT = "The marmalade quokka ledger records codeword XYLOPHRAX for the harbour vault."
STANDALONE_TEXT = "The marmalade quokka ledger names QUORVANTIS as the harbour vault keeper."
BATCH_TEXT = "The marmalade quokka ledger lists ZEPHYRINE among the harbour vault tenants."
QUERY = "marmalade quokka ledger harbour vault"  # finds red's text, names none of its secrets
SECRETS = ("XYLOPHRAX", "QUORVANTIS", "ZEPHYRINE")
RED_NAMES = (
    "red-ledger.txt",
    "red-standalone.txt",
    "red-batch.txt",
    "red-reports",
    "red-store",
    "red-ledger-talk",
    "red-agent",
)

PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
    }
)
# POSTs that read or infer; every other POST, PATCH and DELETE writes.
READ_ONLY_POSTS = frozenset(
    {
        "/api/search",
        "/api/search/clicks",  # counted like the search it follows
        "/v1/vector_stores/{vector_store_id}/search",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/conversations",  # a new one, as a response starts one (changing one writes)
        "/v1/embeddings",
        "/v1/audio/transcriptions",
    }
)
# A conversation is its caller's own: every role may start one. One's memories are one's
# own: every role keeps, clears and sets them.
OWN_DATA_POSTS = frozenset({"/api/conversations", "/api/memories", "/api/memory"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The TestClient answers with httpx2's responses, the live server's clients with httpx's.
Response = httpx.Response | httpx2.Response


def is_write(method: str, path: str) -> bool:
    return (
        method in WRITE_METHODS
        and not (method == "POST" and path in READ_ONLY_POSTS)
        and path not in OWN_DATA_POSTS
        and not path.startswith("/api/auth/")
    )


@dataclass
class Red:
    """Red's data, every id of it."""

    team_id: str = ""
    developer_id: str = ""
    viewer_id: str = ""
    operator_id: str = ""
    collection_id: str = ""
    ledger_id: str = ""  # the file uploaded into the collection
    ledger_sha256: str = ""
    standalone_id: str = ""  # uploaded through /v1/files, attached to the vector store
    batch_file_id: str = ""  # attached by the file batch
    vector_store_id: str = ""
    batch_id: str = ""
    key_id: str = ""
    job_ids: list[int] = field(default_factory=list)
    thumbnail_id: str = ""
    response_id: str = ""  # a stored response (Responses API)
    conversation_id: str = ""  # red-dev's, shared with red's team
    api_conversation_id: str = ""  # a Conversations API conversation (the team's)
    item_id: str = ""  # its first item
    agent_id: str = ""  # red-agent, answering from red's vector store
    memory_id: str = ""  # red-dev's

    def strings(self) -> set[str]:
        """What may not appear in another team's responses (unless it sent it)."""
        ids = {
            self.team_id,
            self.developer_id,
            self.viewer_id,
            self.operator_id,
            self.collection_id,
            self.ledger_id,
            self.ledger_sha256,
            self.standalone_id,
            self.batch_file_id,
            self.vector_store_id,
            self.batch_id,
            self.key_id,
            self.thumbnail_id,
            self.response_id,
            self.conversation_id,
            self.api_conversation_id,
            self.item_id,
            self.agent_id,
            self.memory_id,
        }
        return ids | set(SECRETS) | set(RED_NAMES) | {"red-dev", "red-viewer", "red-op"}

    def path_params(self, path: str) -> dict[str, str]:
        native = path.startswith("/api/collections/")
        api_conversation = path.startswith("/v1/conversations/")
        return {
            "collection": self.collection_id,
            "file_id": self.ledger_id if native else self.standalone_id,
            "vector_store_id": self.vector_store_id,
            "batch_id": self.batch_id,
            "key_id": self.key_id,
            "user": self.developer_id,
            "job_id": str(self.job_ids[0]),
            "thumbnail_id": self.thumbnail_id,
            "response_id": self.response_id,
            "conversation_id": (
                self.api_conversation_id if api_conversation else self.conversation_id
            ),
            "item_id": self.item_id,
            "agent": self.agent_id,
            "memory_id": self.memory_id,
            "page": "1",
            "model_id": "echo",
        }


@dataclass(frozen=True)
class Call:
    json: Any = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, str] | None = None
    params: dict[str, str] | None = None


Kind = Literal["red", "mine", "list", "own", "admin", "operate"]
"""How a route relates to red's data:
- red: names red's data (in its path or body): another team gets 403 or 404;
- mine: names red-dev's own data (a memory): everyone else, teammates too, gets 404;
- list: lists or searches the caller's data: 200 and nothing of red's;
- own: acts on the caller's own account or data, or on none: `ok`, and nothing of red's;
- admin, operate: needs that permission: 403 for a developer."""


@dataclass(frozen=True)
class Route:
    kind: Kind
    call: Callable[[Red], Call] = lambda red: Call()
    ok: int = 200  # what a caller allowed to use the route gets
    fresh_login: bool = False  # ends the caller's login: use one of its own


def _text(name: str, text: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, text.encode(), "text/plain"))]


def _upload(name: str) -> Call:
    return Call(
        files=[("file", (name, b"Blue's own little note.", "text/plain"))],
        data={"purpose": "assistants"},
    )


WRONG = "wrong-password-123456"
ADMIN_PASSWORD = "Correct-Horse-Battery-42"

ROUTES: dict[tuple[str, str], Route] = {
    # One's own account.
    ("POST", "/api/auth/logout"): Route("own", lambda r: Call(json={}), ok=204, fresh_login=True),
    ("GET", "/api/auth/me"): Route("own"),
    ("POST", "/api/auth/password"): Route(
        "own", lambda r: Call(json={"current_password": WRONG, "new_password": WRONG}), ok=401
    ),
    ("POST", "/api/auth/mfa/totp"): Route("own"),
    ("POST", "/api/auth/mfa/totp/confirm"): Route(
        "own", lambda r: Call(json={"code": "000000"}), ok=400
    ),
    # Two-factor authentication is not on: nothing to turn off or renew.
    ("POST", "/api/auth/mfa/totp/disable"): Route(
        "own", lambda r: Call(json={"password": WRONG}), ok=409
    ),
    ("POST", "/api/auth/mfa/recovery-codes"): Route(
        "own", lambda r: Call(json={"code": "000000"}), ok=409
    ),
    # Keys: one's own; a key for red's collection is a key for nothing that exists.
    ("POST", "/api/keys"): Route(
        "red", lambda r: Call(json={"name": "sneaky", "collections": [r.collection_id]})
    ),
    ("GET", "/api/keys"): Route("list", lambda r: Call(params={"user": r.developer_id})),
    ("GET", "/api/keys/{key_id}"): Route("red"),
    ("DELETE", "/api/keys/{key_id}"): Route("red"),
    # Administration.
    ("GET", "/api/users"): Route("admin", lambda r: Call(params={"team": r.team_id})),
    ("POST", "/api/users"): Route(
        "admin",
        lambda r: Call(json={"username": "intruder", "role": "admin", "team": r.team_id}),
        ok=201,
    ),
    ("GET", "/api/users/{user}"): Route("admin"),
    ("PATCH", "/api/users/{user}"): Route("admin", lambda r: Call(json={"disabled": True})),
    ("POST", "/api/users/{user}/password"): Route("admin", lambda r: Call(json={})),
    ("GET", "/api/teams"): Route("admin"),
    ("POST", "/api/teams"): Route("admin", lambda r: Call(json={"name": "purple"}), ok=201),
    ("GET", "/api/audit"): Route("admin"),
    ("GET", "/api/audit/export"): Route("admin"),
    ("POST", "/api/users/{user}/mfa/reset"): Route("admin"),
    ("GET", "/api/usage"): Route("list"),
    ("GET", "/api/usage/summary"): Route("list"),
    ("GET", "/api/stats/search"): Route("list"),
    ("GET", "/api/stats/ingestion"): Route("own"),
    ("GET", "/api/info"): Route("own"),
    # Native collections.
    ("GET", "/api/collections"): Route("list"),
    ("POST", "/api/collections"): Route(
        "own", lambda r: Call(json={"name": f"blue-{secrets.token_hex(4)}"}), ok=201
    ),
    ("GET", "/api/collections/{collection}"): Route("red"),
    ("PATCH", "/api/collections/{collection}"): Route(
        "red", lambda r: Call(json={"name": "renamed-by-blue"})
    ),
    ("DELETE", "/api/collections/{collection}"): Route("red"),
    ("POST", "/api/collections/{collection}/files"): Route(
        "red", lambda r: Call(files=_text("planted.txt", "Planted by another team.")), ok=201
    ),
    ("GET", "/api/collections/{collection}/files"): Route("red"),
    ("GET", "/api/collections/{collection}/files/{file_id}"): Route("red"),
    ("DELETE", "/api/collections/{collection}/files/{file_id}"): Route("red"),
    ("GET", "/api/collections/{collection}/files/{file_id}/passages"): Route("red"),
    # Red's ledger is text: even red is told it has no pages to show.
    ("GET", "/api/collections/{collection}/files/{file_id}/pages/{page}"): Route("red", ok=400),
    # Retrying a completed file is refused even to its owner.
    ("POST", "/api/collections/{collection}/files/{file_id}/retry"): Route("red", ok=409),
    ("POST", "/api/search"): Route(
        "red", lambda r: Call(json={"query": QUERY, "collections": [r.collection_id]})
    ),
    # Counted for the caller alone, whatever it searched.
    ("POST", "/api/search/clicks"): Route(
        "own",
        lambda r: Call(json={"query": QUERY, "mode": "hybrid", "rank": 1, "first": True}),
        ok=204,
    ),
    # Conversations: red-dev's is shared with red's team, to read.
    ("GET", "/api/conversations"): Route("list", lambda r: Call(params={"shared": "true"})),
    ("POST", "/api/conversations"): Route(
        "red", lambda r: Call(json={"collections": [r.collection_id]}), ok=201
    ),
    ("GET", "/api/conversations/{conversation_id}"): Route("red"),
    ("PATCH", "/api/conversations/{conversation_id}"): Route(
        "red", lambda r: Call(json={"title": "blue was here"})
    ),
    ("DELETE", "/api/conversations/{conversation_id}"): Route("red"),
    ("POST", "/api/conversations/{conversation_id}/messages"): Route(
        "red", lambda r: Call(json={"content": QUERY})
    ),
    # Agents: red's "red-agent" answers from red's vector store.
    ("GET", "/api/agents"): Route("list"),
    ("POST", "/api/agents"): Route(
        "own", lambda r: Call(json={"name": f"blue-{secrets.token_hex(4)}"}), ok=201
    ),
    ("GET", "/api/agents/{agent}"): Route("red"),
    ("PUT", "/api/agents/{agent}"): Route("red", lambda r: Call(json={"name": "red-agent"})),
    ("DELETE", "/api/agents/{agent}"): Route("red", ok=204),
    # Memories: red-dev's own, seen by no one else.
    ("GET", "/api/memories"): Route("list"),
    ("POST", "/api/memories"): Route(
        "own", lambda r: Call(json={"text": "Blue likes tea."}), ok=201
    ),
    ("DELETE", "/api/memories"): Route("own"),
    ("GET", "/api/memory/export"): Route("own"),
    ("GET", "/api/memory"): Route("own"),
    ("PUT", "/api/memory"): Route("own", lambda r: Call(json={"enabled": True})),
    ("GET", "/api/memories/{memory_id}"): Route("mine"),
    ("PUT", "/api/memories/{memory_id}"): Route(
        "mine", lambda r: Call(json={"text": "Blue was here."})
    ),
    ("DELETE", "/api/memories/{memory_id}"): Route("mine", ok=204),
    ("GET", "/api/jobs"): Route("operate"),
    ("GET", "/api/jobs/{job_id}"): Route("operate"),
    # Models and inference.
    ("GET", "/v1/models"): Route("own"),
    ("GET", "/v1/models/{model_id}"): Route("own"),
    ("POST", "/v1/chat/completions"): Route(
        "red",
        lambda r: Call(
            json={
                "model": "echo",
                "messages": [{"role": "user", "content": QUERY}],
                "vector_store_ids": [r.vector_store_id],
            }
        ),
    ),
    ("POST", "/v1/responses"): Route(
        "red",
        lambda r: Call(
            json={
                "model": "echo",
                "input": QUERY,
                "tools": [{"type": "file_search", "vector_store_ids": [r.vector_store_id]}],
            }
        ),
    ),
    ("GET", "/v1/responses/{response_id}"): Route("red"),
    ("DELETE", "/v1/responses/{response_id}"): Route("red"),
    ("POST", "/v1/conversations"): Route(
        "own", lambda r: Call(json={"items": [{"role": "user", "content": "Blue's question"}]})
    ),
    ("GET", "/v1/conversations/{conversation_id}"): Route("red"),
    ("POST", "/v1/conversations/{conversation_id}"): Route(
        "red", lambda r: Call(json={"metadata": {"by": "blue"}})
    ),
    ("DELETE", "/v1/conversations/{conversation_id}"): Route("red"),
    ("GET", "/v1/conversations/{conversation_id}/items"): Route("red"),
    ("POST", "/v1/conversations/{conversation_id}/items"): Route(
        "red", lambda r: Call(json={"items": [{"role": "user", "content": "Blue was here"}]})
    ),
    ("GET", "/v1/conversations/{conversation_id}/items/{item_id}"): Route("red"),
    ("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}"): Route("red"),
    ("POST", "/v1/embeddings"): Route(
        "own", lambda r: Call(json={"model": MINILM_ID, "input": QUERY})
    ),
    ("POST", "/v1/audio/transcriptions"): Route(
        "own",
        lambda r: Call(
            files=[("file", ("noise.wav", b"not a recording", "audio/wav"))],
            data={"model": "whisper-1"},
        ),
        ok=400,
    ),
    # Files.
    ("POST", "/v1/files"): Route("own", lambda r: _upload("blue-note.txt")),
    ("GET", "/v1/files"): Route("list"),
    ("GET", "/v1/files/{file_id}"): Route("red"),
    ("DELETE", "/v1/files/{file_id}"): Route("red"),
    ("GET", "/v1/files/{file_id}/content"): Route("red"),
    ("GET", "/v1/files/{file_id}/thumbnails/{thumbnail_id}"): Route("red"),
    # Vector stores.
    ("POST", "/v1/vector_stores"): Route(
        "red", lambda r: Call(json={"name": "stolen", "file_ids": [r.standalone_id]})
    ),
    ("GET", "/v1/vector_stores"): Route("list"),
    ("GET", "/v1/vector_stores/{vector_store_id}"): Route("red"),
    ("POST", "/v1/vector_stores/{vector_store_id}"): Route(
        "red", lambda r: Call(json={"name": "renamed", "metadata": {"owner": "blue"}})
    ),
    ("DELETE", "/v1/vector_stores/{vector_store_id}"): Route("red"),
    ("POST", "/v1/vector_stores/{vector_store_id}/files"): Route(
        "red", lambda r: Call(json={"file_id": r.ledger_id})
    ),
    ("GET", "/v1/vector_stores/{vector_store_id}/files"): Route("red"),
    ("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}"): Route("red"),
    ("POST", "/v1/vector_stores/{vector_store_id}/files/{file_id}"): Route(
        "red", lambda r: Call(json={"attributes": {"owner": "blue"}})
    ),
    ("DELETE", "/v1/vector_stores/{vector_store_id}/files/{file_id}"): Route("red"),
    ("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}/content"): Route("red"),
    ("POST", "/v1/vector_stores/{vector_store_id}/file_batches"): Route(
        "red", lambda r: Call(json={"file_ids": [r.ledger_id]})
    ),
    ("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}"): Route("red"),
    ("POST", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel"): Route("red"),
    ("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/files"): Route("red"),
    ("POST", "/v1/vector_stores/{vector_store_id}/search"): Route(
        "red", lambda r: Call(json={"query": QUERY})
    ),
}


@dataclass
class World:
    client: TestClient
    admin: dict[str, str]
    red: Red
    users: dict[str, dict[str, str]]  # name -> {"id", "username", "password", "token", "key"}

    def auth(self, user: str, via: Literal["token", "key"] = "token") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.users[user][via]}"}

    def login(self, user: str) -> dict[str, str]:
        """A new login of `user`, its own session."""
        found = self.users[user]
        body = {"username": found["username"], "password": found["password"]}
        response = self.client.post("/api/auth/login", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def operations(client: TestClient) -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def send(
    world: World,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    red: Red | None = None,
) -> tuple[Response, str]:
    """The route's request, with red's ids; the response and what was sent (URL and body)."""
    red = red or world.red
    route = ROUTES[(method, path)]
    call = route.call(red)
    url = path.format_map(red.path_params(path))
    response = world.client.request(
        method,
        url,
        json=call.json,
        files=call.files,
        data=call.data,
        params=call.params,
        headers=headers,
    )
    sent = url + json.dumps(call.json) + json.dumps(call.params) + json.dumps(call.data)
    return response, sent


def assert_no_leak(world: World, response: Response, sent: str, where: str) -> None:
    body = response.text
    leaked = {s for s in world.red.strings() if s and s in body and s not in sent}
    assert not leaked, f"{where}: red's {sorted(leaked)} in {body[:500]}"


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def settings_for(data_dir: Any, upstream_url: str) -> Settings:
    """Chat on the fake upstream (no model loads), no rate limit to trip over."""
    fake = UpstreamSettings(
        name="fake", base_url=upstream_url, api_key=API_KEY, models=["echo"], max_retries=0
    )
    return Settings(
        data_dir=data_dir,
        ingest=IngestSettings(workers=1, retry_base_seconds=0.01),
        llm=LlmSettings(
            default_model="echo", embedded=EmbeddedLlmSettings(enabled=False), upstreams=[fake]
        ),
        quotas=QuotaSettings(requests_per_minute=0),
        auth=AuthSettings(initial_admin_password=SecretStr(ADMIN_PASSWORD)),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream) -> Iterator[World]:
    settings = settings_for(tmp_path_factory.mktemp("authz"), fake_upstream.base_url)
    with TestClient(create_app(settings)) as client:
        # An admin's API key cannot administer: the admin logs in.
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = _ok(client.post("/api/auth/login", json=login))["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        world = World(client, admin, Red(), {})
        _populate(world)
        yield world


def _ok(response: Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _populate(world: World) -> None:
    client, red = world.client, world.red
    teams = {
        name: _ok(client.post("/api/teams", json={"name": name}, headers=world.admin), 201)["id"]
        for name in ("red", "blue")
    }
    red.team_id = teams["red"]
    for name, team, role in (
        ("red-dev", "red", "developer"),
        ("red-viewer", "red", "viewer"),
        ("red-op", "red", "operator"),
        ("blue-dev", "blue", "developer"),
        ("blue-op", "blue", "operator"),
    ):
        body = {"username": name, "role": role, "team": teams[team]}
        created = _ok(client.post("/api/users", json=body, headers=world.admin), 201)
        login = {"username": name, "password": created["password"]}
        token = _ok(client.post("/api/auth/login", json=login))["access_token"]
        world.users[name] = {"id": created["id"], "username": name}
        world.users[name] |= {"password": created["password"], "token": token}
        if role == "developer":
            key = client.post("/api/keys", json={"name": f"{name}-key"}, headers=world.auth(name))
            world.users[name]["key"] = _ok(key, 201)["key"]
    red.developer_id = world.users["red-dev"]["id"]
    red.viewer_id = world.users["red-viewer"]["id"]
    red.operator_id = world.users["red-op"]["id"]

    dev = world.auth("red-dev")
    red.key_id = _ok(client.get("/api/keys", headers=dev))["data"][0]["id"]
    red.collection_id = _ok(
        client.post("/api/collections", json={"name": "red-reports"}, headers=dev), 201
    )["id"]
    uploaded = client.post(
        f"/api/collections/{red.collection_id}/files",
        files=_text("red-ledger.txt", LEDGER_TEXT),
        headers=dev,
    )
    ledger = _ok(uploaded, 201)["data"][0]
    red.ledger_id, red.ledger_sha256 = ledger["id"], ledger["sha256"]

    def upload(name: str, text: str) -> str:
        files = [("file", (name, text.encode(), "text/plain"))]
        response = client.post(
            "/v1/files", files=files, data={"purpose": "assistants"}, headers=dev
        )
        file_id: str = _ok(response)["id"]
        return file_id

    red.standalone_id = upload("red-standalone.txt", STANDALONE_TEXT)
    red.batch_file_id = upload("red-batch.txt", BATCH_TEXT)
    body = {"name": "red-store", "file_ids": [red.standalone_id], "metadata": {"team": "red"}}
    red.vector_store_id = _ok(client.post("/v1/vector_stores", json=body, headers=dev))["id"]
    batches = f"/v1/vector_stores/{red.vector_store_id}/file_batches"
    batch = client.post(batches, json={"file_ids": [red.batch_file_id]}, headers=dev)
    red.batch_id = _ok(batch)["id"]

    def settled() -> bool:
        ledger = client.get(f"/api/collections/{red.collection_id}/files", headers=dev).json()
        batch = client.get(f"{batches}/{red.batch_id}", headers=dev).json()
        store = client.get(f"/v1/vector_stores/{red.vector_store_id}/files", headers=dev).json()
        return (
            [f["status"] for f in ledger["data"]] == ["completed"]
            and batch["status"] == "completed"
            and sorted(f["status"] for f in store["data"]) == ["completed", "completed"]
        )

    talk = {"title": "red-ledger-talk", "collections": [red.collection_id]}
    red.conversation_id = _ok(client.post("/api/conversations", json=talk, headers=dev), 201)["id"]
    shared = client.patch(
        f"/api/conversations/{red.conversation_id}", json={"shared": True}, headers=dev
    )
    _ok(shared)
    asked = {"model": "echo", "input": "What does the red ledger say?"}
    red.response_id = _ok(client.post("/v1/responses", json=asked, headers=dev))["id"]
    opened = {"model": "echo", "input": "What does the red ledger say?", "conversation": ""}
    red.api_conversation_id = _ok(client.post("/v1/conversations", json={}, headers=dev))["id"]
    opened["conversation"] = red.api_conversation_id
    _ok(client.post("/v1/responses", json=opened, headers=dev))
    agent = {"name": "red-agent", "instructions": QUERY, "vector_store_ids": [red.vector_store_id]}
    red.agent_id = _ok(client.post("/api/agents", json=agent, headers=dev), 201)["id"]
    remembered = {"text": "Red's developer keeps the XYLOPHRAX codeword."}
    red.memory_id = _ok(client.post("/api/memories", json=remembered, headers=dev), 201)["id"]
    items = f"/v1/conversations/{red.api_conversation_id}/items?order=asc"
    red.item_id = _ok(client.get(items, headers=dev))["data"][0]["id"]
    wait_for(settled, "red's files to be ingested")
    jobs = _ok(client.get("/api/jobs", headers=world.auth("red-op")))["data"]
    red.job_ids = [job["id"] for job in jobs]
    assert len(red.job_ids) == 3

    # A picture of red's file (as ingestion derives from images and pages), by its digest.
    stack = client_stack(client)
    red.thumbnail_id = stack.blobs.put(b"\x89PNG red's page render")
    with stack.db.session(write=True) as session:
        session.add(
            FileAsset(file_id=red.standalone_id, key=red.thumbnail_id, media_type="image/png")
        )

    # Blue has data of its own, about the same things.
    blue = world.auth("blue-dev")
    blue_store = _ok(client.post("/v1/vector_stores", json={"name": "blue-store"}, headers=blue))
    attach = client.post(
        f"/api/collections/{blue_store['id']}/files",
        files=_text("blue-ledger.txt", "The marmalade quokka ledger of blue: nothing to hide."),
        headers=blue,
    )
    world.users["blue-dev"]["store"] = blue_store["id"]
    world.users["blue-dev"]["file"] = _ok(attach, 201)["data"][0]["id"]
    wait_for(
        lambda: (
            client.get(f"/api/collections/{blue_store['id']}/files", headers=blue).json()["data"][
                0
            ]["status"]
            == "completed"
        ),
        "blue's file to be ingested",
    )


def snapshot(world: World) -> dict[str, Any]:
    """Everything of red's, as red and the admin see it."""
    client, red, dev = world.client, world.red, world.auth("red-dev")

    def get(url: str, headers: dict[str, str] = dev) -> Any:
        return _ok(client.get(url, headers=headers))

    def pick(items: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(json.dumps(item[k]) for k in keys) for item in items)

    store = f"/v1/vector_stores/{red.vector_store_id}"
    return {
        "collections": pick(get("/api/collections")["data"], "id", "name", "description"),
        "files": pick(
            get(f"/api/collections/{red.collection_id}/files")["data"], "id", "status", "tags"
        ),
        "openai_files": pick(get("/v1/files")["data"], "id", "filename"),
        "stores": pick(get("/v1/vector_stores")["data"], "id", "name", "metadata"),
        "store_files": pick(get(f"{store}/files")["data"], "id", "status", "attributes"),
        "batch": get(f"{store}/file_batches/{red.batch_id}")["status"],
        "keys": pick(get("/api/keys")["data"], "id", "revoked_at"),
        "users": pick(get("/api/users", world.admin)["data"], "id", "role", "disabled"),
        "teams": pick(get("/api/teams", world.admin)["data"], "id", "name"),
        "content": client.get(f"/v1/files/{red.standalone_id}/content", headers=dev).text,
        "response": get(f"/v1/responses/{red.response_id}")["output"],
        "conversation": get(f"/api/conversations/{red.conversation_id}"),
        "api_conversation": get(f"/v1/conversations/{red.api_conversation_id}"),
        "api_items": get(f"/v1/conversations/{red.api_conversation_id}/items"),
        "agent": get(f"/api/agents/{red.agent_id}"),
        "memories": get("/api/memory/export"),
        "thumbnail": client.get(
            f"/v1/files/{red.standalone_id}/thumbnails/{red.thumbnail_id}", headers=dev
        ).content,
    }


def _ids(body: Any) -> set[str]:
    return {str(item.get("id")) for item in body.get("data", [])}


def test_the_table_covers_every_route(world: World) -> None:
    """A new route must be added to ROUTES (and so to every check below) or to PUBLIC."""
    documented = operations(world.client)
    assert set(ROUTES) | PUBLIC == documented, (
        f"not covered: {sorted(documented - set(ROUTES) - PUBLIC)}; "
        f"no longer documented: {sorted(set(ROUTES) | PUBLIC - documented)}"
    )
    assert not set(ROUTES) & PUBLIC


def test_no_route_but_the_public_ones_answers_without_a_key(world: World) -> None:
    exercised = set()
    for method, path in sorted(operations(world.client) - PUBLIC):
        for headers in (
            None,
            {"Authorization": "Bearer mmk_nope.nope"},
            {"Authorization": "Basic x"},
        ):
            response, _ = send(world, method, path, headers)
            where = f"{method} {path} with {headers}"
            assert response.status_code == 401, f"{where}: {response.text}"
            assert response.headers["www-authenticate"] == "Bearer", where
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, where
            assert_no_leak(world, response, "", where)
        exercised.add((method, path))
    assert exercised == set(ROUTES)  # what the app documents is what the table covers
    for method, path in PUBLIC:  # they answer, without a key
        assert world.client.request(method, path).status_code != 401


def test_red_reaches_its_own_data(world: World) -> None:
    """The requests the other tests make are right: red's own people get answers."""
    for who in ("red-dev", "red-viewer"):
        for method, path in sorted(ROUTES):
            route = ROUTES[(method, path)]
            lacks = who == "red-viewer" and (path.startswith("/api/keys") or route.kind == "mine")
            if is_write(method, path) or route.kind not in ("red", "mine") or lacks:
                continue
            response, _ = send(world, method, path, world.auth(who))
            assert response.status_code == route.ok, f"{who} {method} {path}: {response.text}"
    dev, viewer = world.auth("red-dev"), world.auth("red-viewer")
    found = world.client.post("/api/search", json={"query": QUERY}, headers=viewer)
    assert all(secret in found.text for secret in SECRETS), found.text
    store_search = world.client.post(
        f"/v1/vector_stores/{world.red.vector_store_id}/search", json={"query": QUERY}, headers=dev
    )
    assert "QUORVANTIS" in store_search.text
    assert world.red.key_id in _ids(world.client.get("/api/keys", headers=dev).json())
    jobs = world.client.get(f"/api/jobs/{world.red.job_ids[0]}", headers=world.auth("red-op"))
    assert jobs.status_code == 200


@pytest.mark.parametrize("via", ["token", "key"])
def test_another_team_can_neither_read_search_change_nor_delete(world: World, via: str) -> None:
    before = snapshot(world)
    exercised = set()
    for method, path in sorted(operations(world.client) - PUBLIC):
        route = ROUTES[(method, path)]
        headers = world.auth("blue-dev", via)  # type: ignore[arg-type]
        if route.fresh_login and via == "token":
            headers = world.login("blue-dev")
        response, sent = send(world, method, path, headers)
        where = f"blue's {via}: {method} {path}"
        assert response.status_code < 500, f"{where}: {response.text}"
        assert_no_leak(world, response, sent, where)
        if route.kind in ("red", "mine"):
            assert response.status_code in (403, 404), f"{where}: {response.text}"
        elif route.kind in ("admin", "operate"):
            assert response.status_code == 403, f"{where}: {response.text}"
        elif via == "token" or not path.startswith(("/api/auth/", "/api/keys")):
            # An API key cannot manage logins or keys.
            assert response.status_code == route.ok, f"{where}: {response.text}"
        exercised.add((method, path))
    assert exercised == set(ROUTES)
    assert snapshot(world) == before


def test_another_teams_lists_and_searches_hold_nothing_of_red(world: World) -> None:
    before = snapshot(world)
    client, red = world.client, world.red
    blue, blue_op = world.auth("blue-dev"), world.auth("blue-op")
    blue_store = world.users["blue-dev"]["store"]
    red_ids = red.strings()

    def clean(response: Response, where: str, sent: str = "") -> dict[str, Any]:
        assert response.status_code == 200, f"{where}: {response.text}"
        assert_no_leak(world, response, sent, where)
        if response.headers["content-type"].startswith("text/event-stream"):
            return {}
        body: dict[str, Any] = response.json()
        assert not _ids(body) & red_ids, where
        return body

    for url in ("/api/collections", "/v1/files", "/v1/vector_stores", "/api/keys", "/api/usage"):
        clean(client.get(url, headers=blue), url)
    assert blue_store in _ids(client.get("/v1/vector_stores", headers=blue).json())
    jobs = clean(client.get("/api/jobs", headers=blue_op), "jobs")
    assert not {j["id"] for j in jobs["data"]} & set(red.job_ids)
    assert jobs["data"], "blue's own job is listed"
    for job_id in red.job_ids:
        assert client.get(f"/api/jobs/{job_id}", headers=blue_op).status_code == 404
    # Red's ids as page cursors are refused as ids that do not exist are.
    for url, red_id, unknown in (
        ("/v1/files", red.standalone_id, "file-000000000000000000000000"),
        ("/v1/vector_stores", red.vector_store_id, "vs_000000000000000000000000"),
        (f"/v1/vector_stores/{blue_store}/files", red.standalone_id, "file-0000000000000000"),
    ):
        for cursor in ("after", "before"):
            theirs = client.get(url, params={cursor: red_id}, headers=blue)
            none = client.get(url, params={cursor: unknown}, headers=blue)
            assert theirs.status_code == none.status_code, f"{url} {cursor}: {theirs.text}"
            assert theirs.text.replace(red_id, unknown) == none.text, theirs.text
            assert_no_leak(world, theirs, red_id, f"{url}?{cursor}")

    # Searches over everything blue has find blue's ledger, never red's.
    for mode in ("hybrid", "keyword", "vector"):
        found = clean(
            client.post("/api/search", json={"query": QUERY, "mode": mode}, headers=blue), mode
        )
        assert found["data"], f"{mode}: blue's own ledger is found"
        filtered = {"query": QUERY, "mode": mode, "filters": {"file_ids": [red.ledger_id]}}
        found = clean(client.post("/api/search", json=filtered, headers=blue), mode, red.ledger_id)
        assert found["data"] == []
    for collections in ([red.collection_id], ["red-reports"], [red.vector_store_id]):
        by_name = client.post(
            "/api/search", json={"query": QUERY, "collections": collections}, headers=blue
        )
        assert by_name.status_code == 404, by_name.text
    clean(
        client.post(f"/v1/vector_stores/{blue_store}/search", json={"query": QUERY}, headers=blue),
        "store search",
    )
    chat = {
        "model": "echo",
        "messages": [{"role": "user", "content": QUERY}],
        "vector_store_ids": [blue_store],
    }
    clean(client.post("/v1/chat/completions", json=chat, headers=blue), "grounded chat")
    both = {**chat, "vector_store_ids": [blue_store, red.vector_store_id]}
    response: Response = client.post("/v1/chat/completions", json=both, headers=blue)
    assert response.status_code == 404, response.text
    assert_no_leak(world, response, red.vector_store_id, "grounded chat on both")
    for stream in (False, True):
        tool = {"type": "file_search", "vector_store_ids": [blue_store]}
        body = {"model": "echo", "input": QUERY, "tools": [tool], "stream": stream}
        clean(client.post("/v1/responses", json=body, headers=blue), f"responses {stream}")

    # Red's things by name, or put into blue's own store, are not found either.
    for url in ("/api/collections/red-reports", "/api/collections/red-store/files"):
        assert client.get(url, headers=blue).status_code == 404
    attached = client.post(
        f"/v1/vector_stores/{blue_store}/files", json={"file_id": red.standalone_id}, headers=blue
    )
    assert attached.status_code == 404, attached.text
    batch = client.post(
        f"/v1/vector_stores/{blue_store}/file_batches",
        json={"files": [{"file_id": red.batch_file_id}]},
        headers=blue,
    )
    assert batch.status_code == 404, batch.text
    key = client.post("/api/keys", json={"name": "k", "collections": ["red-reports"]}, headers=blue)
    assert key.status_code == 404, key.text
    # Red's files and batches through blue's own store (and red's picture through blue's
    # file) are not found: the routes naming both a container and what is in it.
    mixed = dataclasses.replace(
        red,
        collection_id=blue_store,
        vector_store_id=blue_store,
        standalone_id=world.users["blue-dev"]["file"],
    )
    for (method, path), route in sorted(ROUTES.items()):
        parts = {p for p in path.split("/") if p.startswith("{")}
        inner = len(parts) > 1  # a container (a store, a file) and what is in it
        attach = method == "POST" and path.endswith(("/{vector_store_id}/files", "/file_batches"))
        if route.kind != "red" or not (inner or attach):
            continue
        if "{vector_store_id}/files/{file_id}" in path:  # red's file in blue's store
            probe = dataclasses.replace(mixed, standalone_id=red.standalone_id)
        else:
            probe = mixed
        response, sent = send(world, method, path, blue, probe)
        where = f"blue's store, red's content: {method} {path}"
        assert response.status_code == 404, f"{where}: {response.text}"
        assert_no_leak(world, response, sent, where)

    # The same names are free in another team.
    same = client.post("/api/collections", json={"name": "red-reports"}, headers=blue)
    assert same.status_code == 201, same.text
    assert same.json()["id"] != red.collection_id
    same = client.post("/v1/vector_stores", json={"name": "red-store"}, headers=blue)
    assert same.status_code == 200, same.text
    assert same.json()["id"] != red.vector_store_id
    assert snapshot(world) == before


def test_a_viewer_reads_and_cannot_write(world: World) -> None:
    before = snapshot(world)
    viewer = world.auth("red-viewer")
    exercised = set()
    for method, path in sorted(operations(world.client) - PUBLIC):
        route = ROUTES[(method, path)]
        headers = world.login("red-viewer") if route.fresh_login else viewer
        response, _ = send(world, method, path, headers)
        where = f"red's viewer: {method} {path}"
        # A viewer has neither keys, nor jobs, nor administration.
        lacks = route.kind in ("admin", "operate") or path.startswith("/api/keys")
        if route.kind == "mine":  # red-dev's alone, even within the team
            assert response.status_code == 404, f"{where}: {response.text}"
        elif is_write(method, path) or lacks:
            assert response.status_code == 403, f"{where}: {response.text}"
        else:
            assert response.status_code == route.ok, f"{where}: {response.text}"
        exercised.add((method, path))
    assert exercised == set(ROUTES)
    assert snapshot(world) == before
    got = world.client.get(f"/api/collections/{world.red.collection_id}", headers=viewer)
    assert got.json()["name"] == "red-reports"
