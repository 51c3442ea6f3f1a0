"""`/v1/vector_stores` (files, file batches, search) through the official `openai` client,
against a live server whose worker ingests with the real embedding model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import httpx
import openai
import pytest

from tests.documents import PAGE_TEXTS, make_pdf

CORROSION = "corrosion of titanium valves at the desalination plant"
OWLS = b"Barn owls hunt voles at night over open meadows."
HERONS = b"Grey herons hunt fish in shallow rivers at dawn."
VOLES = b"Field voles dig tunnels under the meadow grass."


def _upload(client: openai.OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="assistants").id


def test_vector_store_lifecycle(client: openai.OpenAI) -> None:
    report = make_pdf(PAGE_TEXTS)
    report_id = _upload(client, "q1.pdf", report)
    owls_id = _upload(client, "owls.txt", OWLS)
    store = client.vector_stores.create(
        name="reports",
        description="quarterly",
        file_ids=[report_id, owls_id],
        metadata={"team": "finance"},
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={"type": "auto"},
    )
    assert store.id.startswith("vs_")
    assert (store.object, store.name, store.metadata) == (
        "vector_store",
        "reports",
        {"team": "finance"},
    )
    assert store.file_counts.total == 2

    for file_id in (report_id, owls_id):
        done = client.vector_stores.files.poll(file_id, vector_store_id=store.id)
        assert (done.status, done.last_error, done.vector_store_id) == ("completed", None, store.id)
        assert done.object == "vector_store.file"
    store = client.vector_stores.retrieve(store.id)
    assert store.status == "completed"
    assert (store.file_counts.completed, store.file_counts.in_progress) == (2, 0)
    assert store.usage_bytes == len(report) + len(OWLS)

    updated = client.vector_stores.update(store.id, name="reports-2026", metadata={"team": "ops"})
    assert (updated.name, updated.metadata) == ("reports-2026", {"team": "ops"})
    assert client.vector_stores.retrieve(store.id).name == "reports-2026"
    assert store.id in [s.id for s in client.vector_stores.list()]

    listed = client.vector_stores.files.list(store.id, filter="completed")
    assert {f.id for f in listed} == {report_id, owls_id}
    assert list(client.vector_stores.files.list(store.id, filter="failed")) == []
    text = "".join(
        part.text or ""
        for part in client.vector_stores.files.content(report_id, vector_store_id=store.id)
    )
    assert "Valparaiso" in text
    assert "Lisbon" in text

    results = client.vector_stores.search(store.id, query=CORROSION, max_num_results=3)
    top = results.data[0]
    assert (top.file_id, top.filename) == (report_id, "q1.pdf")
    assert top.content[0].type == "text"
    assert "Valparaiso" in top.content[0].text
    assert len(results.data) <= 3

    deleted = client.vector_stores.delete(store.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (store.id, "vector_store.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)
    # Files uploaded through /v1/files outlive the vector store.
    assert client.files.retrieve(report_id).filename == "q1.pdf"
    assert client.files.content(report_id).read() == report


def test_deleting_a_file_removes_it_from_search_in_every_store(client: openai.OpenAI) -> None:
    report_id = _upload(client, "q1.pdf", make_pdf(PAGE_TEXTS))
    stores = [
        client.vector_stores.create(name=f"delete-file-{i}", file_ids=[report_id]).id
        for i in range(2)
    ]
    for store_id in stores:
        client.vector_stores.files.poll(report_id, vector_store_id=store_id)
        assert client.vector_stores.search(store_id, query=CORROSION).data[0].file_id == report_id

    client.files.delete(report_id)

    for store_id in stores:
        assert client.vector_stores.search(store_id, query=CORROSION).data == []
        assert list(client.vector_stores.files.list(store_id)) == []
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.files.retrieve(report_id, vector_store_id=store_id)
        assert client.vector_stores.retrieve(store_id).file_counts.total == 0


def test_store_files_attributes_and_filtered_search(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="animals")
    attached = {}
    labelled: list[tuple[str, bytes, dict[str, str | float | bool]]] = [
        ("owls.txt", OWLS, {"kind": "bird", "year": 2021}),
        ("herons.txt", HERONS, {"kind": "bird", "year": 2024}),
        ("voles.txt", VOLES, {"kind": "mammal", "nocturnal": False}),
    ]
    for name, data, attributes in labelled:
        file_id = _upload(client, name, data)
        attached[name] = client.vector_stores.files.create_and_poll(
            file_id, vector_store_id=store.id, attributes=attributes
        )
    assert {f.status for f in attached.values()} == {"completed"}
    assert attached["owls.txt"].attributes == {"kind": "bird", "year": 2021}
    ids = {name: f.id for name, f in attached.items()}

    def found(query: str | list[str] = "animals that hunt", **kwargs: object) -> set[str]:
        page = client.vector_stores.search(store.id, query=query, **kwargs)  # type: ignore[arg-type]
        return {r.filename for r in page.data}

    assert found() == {"owls.txt", "herons.txt", "voles.txt"}
    assert found(filters={"type": "eq", "key": "kind", "value": "bird"}) == {
        "owls.txt",
        "herons.txt",
    }
    assert found(filters={"type": "gte", "key": "year", "value": 2022}) == {"herons.txt"}
    assert found(filters={"type": "nin", "key": "kind", "value": ["bird"]}) == {"voles.txt"}
    compound = {
        "type": "or",
        "filters": [
            {"type": "eq", "key": "nocturnal", "value": False},
            {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "kind", "value": "bird"},
                    {"type": "lt", "key": "year", "value": 2022},
                ],
            },
        ],
    }
    assert found(filters=compound) == {"voles.txt", "owls.txt"}
    assert found(ranking_options={"ranker": "auto", "score_threshold": 1e9}) == set()
    # Scores as OpenAI gives them: relevances in [0, 1], higher better, so a threshold in
    # that range keeps the better results and drops the rest.
    scores = [r.score for r in client.vector_stores.search(store.id, query="herons").data]
    assert len(scores) == 3
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]
    middle = (scores[0] + scores[-1]) / 2
    kept = found("herons", ranking_options={"score_threshold": middle})
    assert "herons.txt" in kept
    assert 0 < len(kept) < 3
    assert found(query=["herons", "rivers"], rewrite_query=True, max_num_results=1) == {
        "herons.txt"
    }
    page = client.vector_stores.search(store.id, query=["herons", "rivers"])
    assert page.data[0].attributes == {"kind": "bird", "year": 2024}

    updated = client.vector_stores.files.update(
        ids["voles.txt"], vector_store_id=store.id, attributes={"kind": "rodent"}
    )
    assert updated.attributes == {"kind": "rodent"}
    assert found(filters={"type": "eq", "key": "kind", "value": "rodent"}) == {"voles.txt"}

    page1 = client.vector_stores.files.list(store.id, limit=2, order="asc")
    assert page1.has_more
    assert len(page1.data) == 2
    assert [f.id for f in client.vector_stores.files.list(store.id, limit=2, order="asc")] == [
        ids["owls.txt"],
        ids["herons.txt"],
        ids["voles.txt"],
    ]

    removed = client.vector_stores.files.delete(ids["owls.txt"], vector_store_id=store.id)
    assert (removed.object, removed.deleted) == ("vector_store.file.deleted", True)
    assert found() == {"herons.txt", "voles.txt"}
    assert client.files.retrieve(ids["owls.txt"]).filename == "owls.txt"


def test_file_batches(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="batches")
    ids = [
        _upload(client, f"note{i}.txt", f"Note {i} about kingfishers.".encode()) for i in range(3)
    ]
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id, file_ids=ids[:2], attributes={"source": "notes"}
    )
    assert batch.id.startswith("vsfb_")
    assert (batch.object, batch.status, batch.vector_store_id) == (
        "vector_store.files_batch",
        "completed",
        store.id,
    )
    assert (batch.file_counts.completed, batch.file_counts.total) == (2, 2)
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id) == batch
    in_batch = list(
        client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    )
    assert {f.id for f in in_batch} == set(ids[:2])
    assert all(f.attributes == {"source": "notes"} for f in in_batch)

    uploaded = client.vector_stores.file_batches.upload_and_poll(
        store.id,
        files=[("a.md", b"# Alpha\n\nAlpha notes about wrens."), ("b.txt", b"Beta on finches.")],
    )
    assert uploaded.file_counts.completed == 2

    per_file = client.vector_stores.file_batches.create(
        store.id, files=[{"file_id": ids[2], "attributes": {"n": 2}}]
    )
    cancelled = client.vector_stores.file_batches.cancel(per_file.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    # The worker may have taken the file before the cancel arrived: then it completes.
    final = client.vector_stores.files.poll(ids[2], vector_store_id=store.id)
    assert final.status in ("cancelled", "completed")
    counts = client.vector_stores.file_batches.retrieve(
        per_file.id, vector_store_id=store.id
    ).file_counts
    assert counts.cancelled + counts.completed == counts.total == 1


def test_unsupported_and_broken_files_fail_with_their_reason(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="failures")
    tool = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("tool.exe", b"MZ\x90\x00")
    )
    assert tool.status == "failed"
    assert tool.last_error is not None
    assert tool.last_error.code == "unsupported_file"
    assert "unsupported file type" in tool.last_error.message
    broken_id = _upload(client, "broken.pdf", b"%PDF-1.7\n truncated")
    broken = client.vector_stores.files.create_and_poll(broken_id, vector_store_id=store.id)
    assert broken.status == "failed"
    assert broken.last_error is not None
    assert broken.last_error.code == "invalid_file"
    assert client.vector_stores.retrieve(store.id).file_counts.failed == 2
    assert client.vector_stores.files.content(broken_id, vector_store_id=store.id).data == []


def test_unknown_ids_and_bad_requests(
    client: openai.OpenAI, base_url: str, auth_headers: dict[str, str]
) -> None:
    store = client.vector_stores.create(name="errors")
    # As in OpenAI, vector stores may share a name; each is its own store.
    twin = client.vector_stores.create(name="errors")
    assert twin.id != store.id
    assert client.vector_stores.update(twin.id, name="errors").name == "errors"
    named = [s.id for s in client.vector_stores.list(limit=100) if s.name == "errors"]
    assert sorted(named) == sorted([store.id, twin.id])
    # The native API, which addresses collections by name too, asks for an id.
    root = base_url.removesuffix("/v1")
    shared = httpx.get(f"{root}/api/collections/errors", headers=auth_headers)
    assert shared.status_code == 400
    assert "use its id" in shared.json()["error"]["message"]
    assert client.vector_stores.delete(twin.id).deleted
    calls: list[Callable[[], object]] = [
        lambda: client.vector_stores.retrieve("vs_nope"),
        lambda: client.vector_stores.update("vs_nope", name="x"),
        lambda: client.vector_stores.delete("vs_nope"),
        lambda: client.vector_stores.search("vs_nope", query="x"),
        lambda: client.vector_stores.create(name="never", file_ids=["file-nope"]),
        lambda: client.vector_stores.files.create(vector_store_id=store.id, file_id="file-nope"),
        lambda: client.vector_stores.files.retrieve("file-nope", vector_store_id=store.id),
        lambda: client.vector_stores.files.delete("file-nope", vector_store_id=store.id),
        lambda: client.vector_stores.files.content("file-nope", vector_store_id=store.id),
        lambda: client.vector_stores.file_batches.create(store.id, file_ids=["file-nope"]),
        lambda: client.vector_stores.file_batches.retrieve("vsfb_nope", vector_store_id=store.id),
        lambda: client.vector_stores.file_batches.cancel("vsfb_nope", vector_store_id=store.id),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError):
            call()
    assert "never" not in [s.name for s in client.vector_stores.list()]

    bad: list[Callable[[], object]] = [
        lambda: client.vector_stores.search(store.id, query=""),
        lambda: client.vector_stores.search(store.id, query="x", max_num_results=51),
        lambda: client.vector_stores.search(
            store.id,
            query="x",
            filters=cast(Any, {"type": "like", "key": "k", "value": "v"}),  # not a filter type
        ),
        lambda: client.vector_stores.create(metadata={f"k{i}": "v" for i in range(17)}),
        lambda: client.vector_stores.file_batches.create(store.id),
        lambda: client.vector_stores.list(limit=101),
    ]
    for call in bad:
        with pytest.raises(openai.BadRequestError):
            call()
    with httpx.Client(base_url=base_url, headers=auth_headers) as http:
        response = http.post(
            f"/vector_stores/{store.id}/search",
            content=b"{query",
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
