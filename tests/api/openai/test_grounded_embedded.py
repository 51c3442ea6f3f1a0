"""Grounded answers through the OpenAI endpoints, end to end: a file uploaded and attached
to a vector store with the SDK, then asked about through `/v1/chat/completions`
(`vector_store_ids`) and `/v1/responses` (`file_search`), answered by the bundled 0.5B
model with real retrieval and verification, streamed and not."""

from __future__ import annotations

from typing import Any, cast

import openai
import pytest

from mmstack.models.catalog import QWEN_0_5B_ID
from tests.api.live_server import LiveServer

REPORT = b"""# Pump station report

The cooling pump of the Aurora-7 station was replaced on 12 March 2024.
The old pump had run for 41,000 hours.

# Staffing

Two technicians are on call every weekend.
"""
QUESTION = "On what date was the cooling pump of the Aurora-7 station replaced?"


@pytest.fixture(scope="module")
def store(embedded_client: openai.OpenAI, embedded_server: LiveServer) -> tuple[str, str]:
    uploaded = embedded_client.files.create(
        file=("aurora.md", REPORT, "text/markdown"), purpose="assistants"
    )
    created = embedded_client.vector_stores.create(name="aurora")
    embedded_client.vector_stores.files.create(vector_store_id=created.id, file_id=uploaded.id)
    embedded_server.stack.worker.run_until_idle()  # this server runs no worker threads
    attached = embedded_client.vector_stores.files.retrieve(
        file_id=uploaded.id, vector_store_id=created.id
    )
    assert attached.status == "completed"
    return created.id, uploaded.id


def _check_citations(annotations: list[dict[str, Any]], text: str, file_id: str) -> None:
    assert annotations, text
    for annotation in annotations:
        assert annotation["type"] == "file_citation"
        assert (annotation["file_id"], annotation["filename"]) == (file_id, "aurora.md")
        assert text[annotation["index"] :].startswith("[")  # it points at the marker
        assert annotation["quote"].encode() in REPORT
    assert any("12 March 2024" in a["quote"] for a in annotations)


def test_chat_completions_with_vector_store_ids(
    embedded_client: openai.OpenAI, store: tuple[str, str]
) -> None:
    store_id, file_id = store
    body = {"vector_store_ids": [store_id]}
    messages: Any = [{"role": "user", "content": QUESTION}]
    completion = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID, messages=messages, max_tokens=48, temperature=0, extra_body=body
    )
    message = completion.choices[0].message
    text = message.content or ""
    assert "12 March 2024" in text
    cited = cast(list[dict[str, Any]], message.to_dict()["annotations"])
    _check_citations(cited, text, file_id)

    stream = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID,
        messages=messages,
        max_tokens=48,
        temperature=0,
        stream=True,
        extra_body=body,
    )
    streamed = ""
    annotations: list[dict[str, Any]] = []
    for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None:
            streamed += delta.content or ""
            annotations += delta.to_dict().get("annotations", [])  # type: ignore[arg-type]
    assert streamed == text
    _check_citations(annotations, streamed, file_id)


def test_responses_with_file_search(embedded_client: openai.OpenAI, store: tuple[str, str]) -> None:
    store_id, file_id = store
    tools: Any = [{"type": "file_search", "vector_store_ids": [store_id]}]
    response = embedded_client.responses.create(
        model=QWEN_0_5B_ID, input=QUESTION, tools=tools, max_output_tokens=48, temperature=0
    )
    assert "12 March 2024" in response.output_text
    message = response.output[-1]
    assert message.type == "message"
    part = message.content[0]
    assert part.type == "output_text"
    _check_citations([a.to_dict() for a in part.annotations], part.text, file_id)

    unknown: Any = [{"type": "file_search", "vector_store_ids": ["vs_missing"]}]
    with pytest.raises(openai.NotFoundError):
        embedded_client.responses.create(model=QWEN_0_5B_ID, input=QUESTION, tools=unknown)


def test_a_follow_up_in_the_conversation_is_answered_with_its_source(
    embedded_client: openai.OpenAI, store: tuple[str, str]
) -> None:
    store_id, file_id = store
    tools: Any = [{"type": "file_search", "vector_store_ids": [store_id]}]
    conversation: Any = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "It was replaced on 12 March 2024 [1]."},
        {"role": "user", "content": "How many hours had the old one run?"},
    ]
    response = embedded_client.responses.create(
        model=QWEN_0_5B_ID, input=conversation, tools=tools, max_output_tokens=48, temperature=0
    )
    assert "41,000" in response.output_text, response.output_text
    message = response.output[-1]
    assert message.type == "message"
    part = message.content[0]
    assert part.type == "output_text"
    annotations = [a.to_dict() for a in part.annotations]
    assert annotations, part.text
    assert all(a["file_id"] == file_id for a in annotations)
    assert any("41,000 hours" in a["quote"] for a in annotations)  # type: ignore[operator]


def test_file_search_filters_choose_the_files_an_answer_comes_from(
    embedded_client: openai.OpenAI, embedded_server: LiveServer
) -> None:
    store = embedded_client.vector_stores.create(name="fleet")
    years = {}
    for year, date in ((2023, "3 May 2023"), (2024, "12 March 2024")):
        text = (
            f"# Pump log {year}\n\nThe cooling pump of the barge Kestrel was replaced on {date}.\n"
        )
        uploaded = embedded_client.files.create(
            file=(f"log-{year}.md", text.encode(), "text/markdown"), purpose="assistants"
        )
        embedded_client.vector_stores.files.create(
            vector_store_id=store.id, file_id=uploaded.id, attributes={"year": year}
        )
        years[year] = uploaded.id
    embedded_server.stack.worker.run_until_idle()
    question = "When was the cooling pump of the barge Kestrel replaced?"

    def ask(flt: dict[str, Any]) -> Any:
        tools: Any = [{"type": "file_search", "vector_store_ids": [store.id], "filters": flt}]
        return embedded_client.responses.create(
            model=QWEN_0_5B_ID, input=question, tools=tools, max_output_tokens=48, temperature=0
        )

    older = ask({"type": "eq", "key": "year", "value": 2023})
    assert "3 May 2023" in older.output_text, older.output_text
    part = older.output[-1].content[0]
    cited = {a.file_id for a in part.annotations}
    assert cited == {years[2023]}

    none = ask({"type": "eq", "key": "year", "value": 1999})
    assert none.output_text == "The documents do not say."
    with pytest.raises(openai.BadRequestError, match=r"filters\.type"):
        ask({"type": "near", "key": "year", "value": 2023})
