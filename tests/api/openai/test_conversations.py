"""`/v1/conversations` and Responses made with `conversation`, through the official `openai`
client, on the fake upstream's chat models (a real OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.api.live_server import LiveServer, team_key
from tests.llm.fake_upstream import FakeUpstream

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _texts(items: list[Any]) -> list[tuple[str, str]]:
    """(role, text) of each message item; (type, call_id) of the others."""
    found = []
    for item in items:
        if item.type == "message":
            found.append((item.role, "".join(part.text for part in item.content)))
        else:
            found.append((item.type, item.call_id))
    return found


def test_a_conversation_and_its_items(llm_client: openai.OpenAI) -> None:
    created = llm_client.conversations.create(
        items=[
            {"type": "message", "role": "system", "content": "Answer briefly."},
            {"type": "message", "role": "user", "content": "Hello"},
        ],
        metadata={"topic": "demo"},
    )
    assert created.id.startswith("conv_")
    assert (created.object, created.metadata) == ("conversation", {"topic": "demo"})
    assert llm_client.conversations.retrieve(created.id).created_at == created.created_at

    updated = llm_client.conversations.update(created.id, metadata={"topic": "audit"})
    assert updated.metadata == {"topic": "audit"}

    added: Any = llm_client.conversations.items.create(
        created.id,
        items=[
            {"type": "message", "role": "assistant", "content": "Hi."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "?"}]},
        ],
    )
    assert [item.type for item in added.data] == ["message", "message"]
    assert added.first_id == added.data[0].id
    assert added.data[0].content[0].type == "output_text"  # an assistant's text is output

    # Newest first by default; `asc` and pages of two as the SDK walks them.
    newest = llm_client.conversations.items.list(created.id)
    assert [text for _, text in _texts(newest.data)] == ["?", "Hi.", "Hello", "Answer briefly."]
    walked = list(llm_client.conversations.items.list(created.id, order="asc", limit=2))
    assert _texts(walked) == [
        ("system", "Answer briefly."),
        ("user", "Hello"),
        ("assistant", "Hi."),
        ("user", "?"),
    ]

    hello: Any = walked[1]
    assert llm_client.conversations.items.retrieve(hello.id, conversation_id=created.id) == hello
    after = llm_client.conversations.items.delete(hello.id, conversation_id=created.id)
    assert after.id == created.id
    with pytest.raises(openai.NotFoundError, match=hello.id):
        llm_client.conversations.items.retrieve(hello.id, conversation_id=created.id)
    assert len(llm_client.conversations.items.list(created.id).data) == 3

    deleted = llm_client.conversations.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        created.id,
        True,
        "conversation.deleted",
    )
    with pytest.raises(openai.NotFoundError):
        llm_client.conversations.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        llm_client.conversations.items.list(created.id)


def test_responses_read_the_conversation_and_add_to_it(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    conversation = llm_client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "The audit found three issues."}]
    )
    first = llm_client.responses.create(
        model="echo", input="Which ones?", conversation=conversation.id, instructions="Be brief."
    )
    assert first.conversation is not None
    assert first.conversation.id == conversation.id
    assert fake_upstream.bodies[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "The audit found three issues."},
        {"role": "user", "content": "Which ones?"},
    ]
    items = list(llm_client.conversations.items.list(conversation.id, order="asc"))
    assert _texts(items) == [
        ("user", "The audit found three issues."),
        ("user", "Which ones?"),
        ("assistant", "echo: Which ones?"),
    ]
    assert items[-1].id == first.output[0].id  # the response's own item

    # Streamed, the conversation named as an object: added before the stream says done.
    with llm_client.responses.stream(
        model="echo", input="And the second?", conversation={"id": conversation.id}
    ) as stream:
        second = stream.get_final_response()
    assert second.conversation is not None
    assert second.conversation.id == conversation.id
    items = list(llm_client.conversations.items.list(conversation.id, order="asc"))
    assert _texts(items)[-2:] == [
        ("user", "And the second?"),
        ("assistant", "echo: And the second?"),
    ]

    llm_client.responses.create(model="echo", input="Thanks", conversation=conversation.id)
    assert [m["content"] for m in fake_upstream.bodies[-1]["messages"]] == [
        "The audit found three issues.",
        "Which ones?",
        "echo: Which ones?",
        "And the second?",
        "echo: And the second?",
        "Thanks",
    ]
    # Deleting the conversation leaves the responses kept with `store`.
    llm_client.conversations.delete(conversation.id)
    assert llm_client.responses.retrieve(first.id).output_text == "echo: Which ones?"


def test_a_function_call_round_trip_in_a_conversation(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    conversation = llm_client.conversations.create()
    first = llm_client.responses.create(
        model="tools", input="Weather in Paris?", tools=[WEATHER], conversation=conversation.id
    )
    [call] = first.output
    assert call.type == "function_call"
    output: Any = {"type": "function_call_output", "call_id": call.call_id, "output": "22 C"}
    llm_client.responses.create(
        model="echo", input=[output], tools=[WEATHER], conversation=conversation.id
    )
    assert fake_upstream.bodies[-1]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.call_id, "content": "22 C"},
    ]
    items: list[Any] = list(llm_client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert json.loads(items[1].arguments) == {"city": "Paris"}


def _refused(server: LiveServer, method: str, path: str, **options: Any) -> dict[str, Any]:
    headers = options.pop("headers", server.headers)
    response = httpx.request(
        method, f"{server.base_url}{path}", headers=headers, timeout=30, **options
    )
    assert response.status_code >= 400, response.text
    error: dict[str, Any] = response.json()["error"]
    return {"status": response.status_code, **error}


def test_bad_requests_and_other_teams(
    llm_client: openai.OpenAI, upstream_server: LiveServer
) -> None:
    conversation = llm_client.conversations.create(items=[{"role": "user", "content": "secret"}])
    kept = llm_client.responses.create(model="echo", input="hi")

    both = _refused(
        upstream_server,
        "POST",
        "/responses",
        json={
            "model": "echo",
            "input": "hi",
            "conversation": conversation.id,
            "previous_response_id": kept.id,
        },
    )
    assert (both["status"], both["param"]) == (400, "conversation")
    unknown = _refused(
        upstream_server,
        "POST",
        "/responses",
        json={"model": "echo", "input": "hi", "conversation": "conv_nope"},
    )
    assert (unknown["status"], unknown["param"]) == (404, "conversation")
    bad_item = _refused(
        upstream_server,
        "POST",
        "/conversations",
        json={"items": [{"role": "user"}, {"type": "item_reference", "id": "x"}]},
    )
    assert (bad_item["status"], bad_item["param"]) == (400, "items[1]")
    too_many = _refused(
        upstream_server,
        "POST",
        f"/conversations/{conversation.id}/items",
        json={"items": [{"role": "user", "content": "x"}] * 21},
    )
    assert too_many["status"] == 400
    none_added = _refused(
        upstream_server, "POST", f"/conversations/{conversation.id}/items", json={"items": []}
    )
    assert none_added["status"] == 400
    # A refused response adds nothing to its conversation.
    unknown_store = _refused(
        upstream_server,
        "POST",
        "/responses",
        json={
            "model": "echo",
            "input": "hi",
            "conversation": conversation.id,
            "tools": [{"type": "file_search", "vector_store_ids": ["vs_none"]}],
        },
    )
    assert unknown_store["status"] == 404
    assert len(llm_client.conversations.items.list(conversation.id).data) == 1

    stack = upstream_server.stack
    other = {"Authorization": f"Bearer {team_key(stack, 'conv-blue', 'conv-blue-team')}"}
    for method, path in (
        ("GET", f"/conversations/{conversation.id}"),
        ("GET", f"/conversations/{conversation.id}/items"),
        ("DELETE", f"/conversations/{conversation.id}"),
    ):
        assert _refused(upstream_server, method, path, headers=other)["status"] == 404
    hijack = _refused(
        upstream_server,
        "POST",
        "/responses",
        headers=other,
        json={"model": "echo", "input": "what is the secret?", "conversation": conversation.id},
    )
    assert hijack["status"] == 404
    # A read key keeps conversations (as it may make responses) but deletes none; a key
    # limited to search has none.
    reader = {
        "Authorization": f"Bearer {team_key(stack, 'conv-red', 'conv-red-team', access='read')}"
    }
    made = httpx.post(f"{upstream_server.base_url}/conversations", headers=reader, json={})
    assert made.status_code == 200
    refused = _refused(
        upstream_server, "DELETE", f"/conversations/{made.json()['id']}", headers=reader
    )
    assert refused["status"] == 403
    searcher = team_key(stack, "conv-red", "conv-red-team", endpoints=["search"])
    wrong_group = _refused(
        upstream_server,
        "POST",
        "/conversations",
        headers={"Authorization": f"Bearer {searcher}"},
        json={},
    )
    assert wrong_group["status"] == 403
    assert len(llm_client.conversations.items.list(conversation.id).data) == 1
