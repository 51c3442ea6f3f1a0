"""`/v1/files` through the official `openai` client."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.api.openai.conftest import MAX_FILE_BYTES
from tests.documents import PAGE_TEXTS, make_pdf


def test_upload_retrieve_content_delete(client: openai.OpenAI) -> None:
    report = make_pdf(PAGE_TEXTS)
    uploaded = client.files.create(file=("q1.pdf", report), purpose="assistants")
    assert uploaded.id.startswith("file-")
    assert (uploaded.object, uploaded.filename, uploaded.bytes) == ("file", "q1.pdf", len(report))
    assert (uploaded.purpose, uploaded.status) == ("assistants", "processed")
    assert client.files.retrieve(uploaded.id) == uploaded
    content = client.files.content(uploaded.id)
    assert content.read() == report
    assert content.response.headers["content-type"] == "application/pdf"

    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (uploaded.id, "file", True)
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError) as missing:
            call(uploaded.id)
        assert uploaded.id in missing.value.message


def test_any_type_is_stored_under_a_safe_name(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("../../bin/tool.exe", b"MZ\x90\x00"), purpose="user_data")
    assert (uploaded.filename, uploaded.purpose) == ("tool.exe", "user_data")
    assert client.files.content(uploaded.id).read() == b"MZ\x90\x00"


def test_list_pages_and_filters_by_purpose(client: openai.OpenAI) -> None:
    made = [
        client.files.create(file=(f"batch{i}.jsonl", b'{"n": %d}\n' % i), purpose="batch").id
        for i in range(5)
    ]
    newest_first = [f.id for f in client.files.list(purpose="batch")]
    assert sorted(newest_first) == sorted(made)
    oldest_first = [f.id for f in client.files.list(purpose="batch", order="asc")]
    assert oldest_first == newest_first[::-1]

    first = client.files.list(purpose="batch", order="asc", limit=2)
    assert ([f.id for f in first.data], first.has_more) == (oldest_first[:2], True)
    second = client.files.list(purpose="batch", order="asc", limit=2, after=first.data[-1].id)
    assert [f.id for f in second.data] == oldest_first[2:4]
    # The SDK pages on by itself, asking with `after`.
    assert [f.id for f in client.files.list(purpose="batch", order="asc", limit=2)] == oldest_first
    assert all(f.purpose == "batch" for f in client.files.list(purpose="batch"))
    assert [f.id for f in client.files.list(purpose="vision")] == []


def test_bad_uploads(client: openai.OpenAI, base_url: str, auth_headers: dict[str, str]) -> None:
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.files.create(file=("empty.txt", b""), purpose="assistants")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.files.create(file=("a.txt", b"a"), purpose="nonsense")  # type: ignore[arg-type]
    with pytest.raises(openai.APIStatusError) as too_large:
        client.files.create(file=("big.txt", b"x" * (MAX_FILE_BYTES + 1)), purpose="assistants")
    assert too_large.value.status_code == 413
    assert too_large.value.code == "file_too_large"
    assert "over the limit" in too_large.value.message
    with httpx.Client(base_url=base_url, headers=auth_headers) as http:
        no_file = http.post("/files", data={"purpose": "assistants"})
        bad_cursor = http.get("/files", params={"after": "file-nope"})
        bad_limit = http.get("/files", params={"limit": 0})
    for response, param, status in (
        (no_file, "file", 400),
        (bad_cursor, "after", 404),  # names nothing in the list
        (bad_limit, "limit", 400),
    ):
        assert response.status_code == status, response.text
        assert response.json()["error"]["param"] == param
