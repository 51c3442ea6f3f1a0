"""The Python client (`mmstack.client`) against a live server: every resource, sync and
async, uploads with progress, the errors a caller catches, and a quota's 429."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmstack.auth.audit import Actor
from mmstack.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from mmstack.config.settings import EmbeddedLlmSettings, IngestSettings, LlmSettings, Settings
from tests.api.live_server import LiveServer, serve

GUIDE = b"""# Travel guide

Staff book trains for trips under 600 km and flights beyond that.
Receipts go to the finance team within ten days of the trip.
"""
NOTES = b"The night shift hands over to the day shift at 06:30 in room B12.\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with one ingestion worker and no chat model (the client needs none)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("client"),
        ingest=IngestSettings(workers=1),
        llm=LlmSettings(embedded=EmbeddedLlmSettings(enabled=False), default_model="none"),
    )
    with serve(settings) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.base_url, api_key=server.api_key) as mm:
        yield mm


def test_collections_uploads_with_progress_and_search(client: Client, tmp_path: Path) -> None:
    created = client.collections.create("travel", description="How staff travel")
    assert created.name == "travel"
    guide = tmp_path / "guide.md"
    guide.write_bytes(GUIDE)
    heard: list[tuple[int, int]] = []
    uploaded = client.collections.upload(
        created.id,
        [guide, ("notes.txt", NOTES)],
        tags=["policy"],
        on_progress=lambda sent, total: heard.append((sent, total)),
        files_per_request=1,  # two requests, one progress
    )
    assert [f.filename for f in uploaded] == ["guide.md", "notes.txt"]
    assert all(f.tags == ["policy"] for f in uploaded)
    total = len(GUIDE) + len(NOTES)
    assert heard[-1] == (total, total)
    assert [sent for sent, _ in heard] == sorted(sent for sent, _ in heard)

    done = client.collections.wait(created.id, [f.id for f in uploaded], timeout=120)
    assert {f.status for f in done} == {"completed"}
    assert client.collections.get("travel").file_counts.completed == 2  # by name too
    assert {f.filename for f in client.collections.files(created.id, status="completed")} == {
        "guide.md",
        "notes.txt",
    }
    passages = client.collections.passages(created.id, uploaded[0].id)
    assert "600 km" in passages[0].text

    found = client.search("when do receipts go to finance?", collections=[created.id], top_k=3)
    assert found.data[0].filename == "guide.md"
    assert "ten days" in found.data[0].text

    again = client.collections.upload(created.id, [("copy.md", GUIDE)])
    assert again[0].duplicate is True  # the same bytes: kept once

    renamed = client.collections.update(created.id, name="travel-2026")
    assert renamed.name == "travel-2026"
    assert client.collections.delete_file(created.id, uploaded[1].id) == uploaded[1].id
    assert [c.name for c in client.collections.list()] == ["travel-2026"]
    jobs = client.jobs.list(limit=10)
    assert jobs
    assert client.jobs.get(jobs[0].id).id == jobs[0].id
    assert client.usage()  # today's counts, this key's requests among them
    assert client.collections.delete(created.id) == created.id


def test_an_administrator_logs_in_manages_users_and_stays_logged_in(server: LiveServer) -> None:
    first = server.stack.auth.first_admin
    assert first is not None
    assert first.password
    with Client(server.base_url) as admin:
        with pytest.raises(AuthenticationError):
            admin.collections.list()  # no credentials yet
        tokens = admin.login(first.username, first.password)
        assert tokens.access_token
        assert admin.me().username == first.username
        made = admin.users.create("dana", role="viewer")
        assert made.password  # generated, shown once
        assert admin.users.get("dana").role == "viewer"
        assert admin.users.update("dana", role="developer").role == "developer"
        assert "dana" in [u.username for u in admin.users.list()]
        # An access token the server no longer takes: the client refreshes it and goes on.
        admin._credentials.bearer = "expired"
        assert admin.users.get("dana").username == "dana"
        assert admin._credentials.bearer != "expired"
        with pytest.raises(AuthenticationError):
            Client(server.base_url).login(first.username, "wrong password, surely")


def test_keys_and_the_errors_a_caller_catches(client: Client, server: LiveServer) -> None:
    assert client.me().role == "admin"
    with pytest.raises(PermissionDeniedError):
        client.users.list()  # administration and keys need a login, never a key
    with pytest.raises(PermissionDeniedError):
        client.keys.list()
    first = server.stack.auth.first_admin
    assert first is not None
    assert first.password
    with Client(server.base_url) as admin:
        admin.login(first.username, first.password)
        _keys_of(admin, server)


def _keys_of(client: Client, server: LiveServer) -> None:
    key = client.keys.create("ci", access="read")
    assert key.key.startswith("mmk_")
    assert key.id in [k.id for k in client.keys.list()]
    with Client(server.base_url, api_key=key.key) as reader:
        assert reader.collections.list() == []
        with pytest.raises(PermissionDeniedError):
            reader.collections.create("nope")
    client.keys.revoke(key.id)
    with Client(server.base_url, api_key=key.key) as revoked, pytest.raises(AuthenticationError):
        revoked.collections.list()


def test_errors_say_what_is_wrong(client: Client) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.collections.get("no-such-collection")
    assert missing.value.status == 404
    assert missing.value.param == "collection"
    assert "no-such-collection" in missing.value.message
    with pytest.raises(InvalidRequestError) as bad:
        client.search("   ")
    assert bad.value.status == 400


def test_a_used_up_quota_is_a_rate_limit_error_with_its_wait(server: LiveServer) -> None:
    stack = server.stack
    admin = next(u for u in stack.auth.accounts.list_users() if u.role == "admin")
    _, secret = stack.auth.keys.create(
        admin.id, name="tight", actor=Actor.local(), quotas={"requests_per_minute": 1}
    )
    with Client(server.base_url, api_key=secret, max_retries=0) as tight:
        tight.collections.list()
        with pytest.raises(RateLimitError) as limited:
            tight.collections.list()
    assert limited.value.status == 429
    assert limited.value.retry_after is not None
    assert 0 < limited.value.retry_after <= 60


def test_the_async_client_does_the_same(server: LiveServer) -> None:
    async def work() -> None:
        async with AsyncClient(server.base_url, api_key=server.api_key) as mm:
            created = await mm.collections.create("async-notes")
            heard: list[int] = []
            uploaded = await mm.collections.upload(
                created.id, [("shift.txt", NOTES)], on_progress=lambda sent, _: heard.append(sent)
            )
            assert heard[-1] == len(NOTES)
            done = await mm.collections.wait(created.id, [uploaded[0].id], timeout=120)
            assert done[0].status == "completed"
            found = await mm.search(
                "when does the night shift hand over?", collections=[created.id]
            )
            assert "06:30" in found.data[0].text
            assert (await mm.me()).role == "admin"
            with pytest.raises(NotFoundError):
                await mm.collections.file(created.id, "file-missing")
            await mm.collections.delete(created.id)

    async def administration() -> None:
        first = server.stack.auth.first_admin
        assert first is not None
        assert first.password
        async with AsyncClient(server.base_url) as admin:
            await admin.login(first.username, first.password)
            assert "admin" in [u.username for u in await admin.users.list()]
            key = await admin.keys.create("async-ci")
            assert (await admin.keys.revoke(key.id)).id == key.id

    asyncio.run(work())
    asyncio.run(administration())


def test_uploads_stream_in_chunks_and_leave_the_callers_file_open(
    client: Client, tmp_path: Path
) -> None:
    created = client.collections.create("streamed")
    big = tmp_path / "big.txt"
    big.write_bytes(b"Lines of a long log.\n" * 20_000)  # 420 KB: several 64 KiB chunks
    heard: list[int] = []
    with (tmp_path / "small.txt").open("wb+") as mine:
        mine.write(NOTES)
        mine.seek(0)
        uploaded = client.collections.upload(
            created.id, [big, ("small.txt", mine)], on_progress=lambda sent, _: heard.append(sent)
        )
        assert not mine.closed  # the caller's file is the caller's to close
    assert [f.filename for f in uploaded] == ["big.txt", "small.txt"]
    assert len(heard) > 6
    assert heard[-1] == big.stat().st_size + len(NOTES)
    client.collections.delete(created.id)
