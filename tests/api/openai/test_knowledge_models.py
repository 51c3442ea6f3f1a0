"""Knowledge models end to end: a client that speaks only chat completions picks
`kb/<collection>` from `/v1/models` and gets a grounded answer from a PDF, with citations
in the shapes clients render (`file_citation`, `url_citation` with a link that opens the
cited page without logging in, and a list of sources at the end of the text); a client's
own background requests (a chat title) to the same model are answered without documents.
Real retrieval and the bundled 0.5B model."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
import openai
import pytest

from mmstack.auth.audit import Actor
from mmstack.models.catalog import QWEN_0_5B_ID
from tests.api.live_server import LiveServer
from tests.documents import make_pdf

PAGES = [
    "Pump station report. The station pumps water for the town of Arden.",
    "Maintenance. The cooling pump of the Aurora-7 station was replaced on 12 March 2024. "
    "The old pump had run for 41,000 hours.",
]
QUESTION = "On what date was the cooling pump of the Aurora-7 station replaced?"
MODEL = "kb/pump-reports"


@pytest.fixture(scope="module")
def store(embedded_client: openai.OpenAI, embedded_server: LiveServer) -> tuple[str, str]:
    uploaded = embedded_client.files.create(
        file=("pumps.pdf", make_pdf(PAGES), "application/pdf"), purpose="assistants"
    )
    created = embedded_client.vector_stores.create(name="pump-reports")
    embedded_client.vector_stores.files.create(vector_store_id=created.id, file_id=uploaded.id)
    embedded_server.stack.worker.run_until_idle()  # this server runs no worker threads
    return created.id, uploaded.id


def _root(server: LiveServer) -> str:
    return server.base_url.removesuffix("/v1")


def test_the_models_list_offers_each_collection_as_a_knowledge_model(
    embedded_client: openai.OpenAI, store: tuple[str, str]
) -> None:
    listed = [m.to_dict() for m in embedded_client.models.list()]
    assert listed[0]["id"] == QWEN_0_5B_ID  # the default chat model stays first
    known = next(m for m in listed if m["id"] == MODEL)
    assert known["kind"] == "chat"
    assert known["name"] == "pump-reports (documents)"
    assert known["knowledge"] == {
        "collection_ids": [store[0]],
        "model": QWEN_0_5B_ID,
        "description": None,
    }
    kinds = [m["kind"] for m in listed]
    assert kinds.index("embedding") > listed.index(known)  # knowledge models are chat models
    assert embedded_client.models.retrieve(MODEL).id == MODEL
    # By id too, so a renamed collection's model still works.
    assert embedded_client.models.retrieve(f"kb/{store[0]}").id == f"kb/{store[0]}"


def test_a_knowledge_model_answers_with_citations_clients_render(
    embedded_client: openai.OpenAI, embedded_server: LiveServer, store: tuple[str, str]
) -> None:
    _, file_id = store
    messages: Any = [{"role": "user", "content": QUESTION}]
    completion = embedded_client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=48, temperature=0
    )
    assert completion.model == MODEL
    text = completion.choices[0].message.content or ""
    assert "12 March 2024" in text
    annotations = cast(list[dict[str, Any]], completion.choices[0].message.to_dict()["annotations"])
    files = [a for a in annotations if a["type"] == "file_citation"]
    links = [a["url_citation"] for a in annotations if a["type"] == "url_citation"]
    assert files
    # One link per cited passage, in order, the markers numbered 1, 2... to match: a client
    # that shows `[k]` as its k-th link (Open WebUI) links each marker to its passage.
    assert len(links) == len({a["passage"] for a in files})
    assert [text[link["start_index"] : link["end_index"]] for link in links] == [
        f"[{k}]" for k in range(1, len(links) + 1)
    ]
    assert all(a["file_id"] == file_id and a["page_start"] == 2 for a in files)
    root = _root(embedded_server)
    for link in links:
        assert link["url"].startswith(f"{root}/cite/")
        assert link["title"] == "pumps.pdf, p. 2"
    # The sources, listed after the answer for clients that show no annotations.
    answer, _, sources = text.partition("\n\nSources:\n")
    assert "12 March 2024" in answer
    assert sources.startswith("[1] [pumps.pdf, p. 2](" + root + "/cite/")

    # The link opens the cited page, without logging in.
    page = httpx.get(links[0]["url"], timeout=60)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "pumps.pdf" in page.text
    assert "page 2" in page.text
    quoted = page.text.split("<mark>", 1)[1].split("</mark>", 1)[0]
    assert "12 March 2024" in quoted
    assert "<svg" in page.text
    assert "<rect" in page.text
    assert "script-src" in page.headers["content-security-policy"]
    stylesheet = httpx.get(f"{root}/console/cite.css", timeout=10)
    assert stylesheet.status_code == 200

    forged = links[0]["url"][:-4] + ("AAAA" if not links[0]["url"].endswith("AAAA") else "BBBB")
    refused = httpx.get(forged, timeout=10)
    assert refused.status_code == 404
    assert "not valid" in refused.text


def test_a_streamed_knowledge_answer_carries_the_same_citations(
    embedded_client: openai.OpenAI, embedded_server: LiveServer, store: tuple[str, str]
) -> None:
    messages: Any = [{"role": "user", "content": QUESTION}]
    stream = embedded_client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=48, temperature=0, stream=True
    )
    text = ""
    annotations: list[dict[str, Any]] = []
    for chunk in stream:
        assert chunk.model == MODEL
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None:
            text += delta.content or ""
            annotations += delta.to_dict().get("annotations", [])  # type: ignore[arg-type]
    assert "12 March 2024" in text
    assert "\n\nSources:\n[1] [pumps.pdf, p. 2](" in text
    assert {a["type"] for a in annotations} == {"file_citation", "url_citation"}


def test_the_responses_api_gets_url_citations_from_a_knowledge_model(
    embedded_client: openai.OpenAI, embedded_server: LiveServer, store: tuple[str, str]
) -> None:
    response = embedded_client.responses.create(
        model=MODEL, input=QUESTION, max_output_tokens=48, temperature=0
    )
    assert "12 March 2024" in response.output_text
    message = response.output[-1]
    assert message.type == "message"
    part = message.content[0]
    assert part.type == "output_text"
    kinds = [a.type for a in part.annotations]
    assert "file_citation" in kinds
    assert "url_citation" in kinds
    link = next(a for a in part.annotations if a.type == "url_citation")
    assert link.url.startswith(f"{_root(embedded_server)}/cite/")


def test_a_clients_title_request_is_answered_without_documents(
    embedded_client: openai.OpenAI, store: tuple[str, str]
) -> None:
    # Open WebUI's title task, as it sends it: one user message holding the chat.
    task = (
        "### Task:\nGenerate a concise, 3-5 word title summarizing the chat history.\n"
        '### Output:\nJSON format: { "title": "your concise title here" }\n'
        f"### Chat History:\n<chat_history>\nUSER: {QUESTION}\n"
        "ASSISTANT: It was replaced on 12 March 2024 [1].\n</chat_history>"
    )
    messages: Any = [{"role": "user", "content": task}]
    completion = embedded_client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=24, temperature=0
    )
    message = completion.choices[0].message
    assert completion.model == QWEN_0_5B_ID  # its chat model answered, ungrounded
    assert not message.to_dict().get("annotations")
    assert "Sources:" not in (message.content or "")
    assert "documents do not say" not in (message.content or "").lower()


def test_knowledge_models_stay_within_what_the_key_may_read(
    embedded_server: LiveServer, store: tuple[str, str]
) -> None:
    stack = embedded_server.stack
    other = stack.collections.create("other-notes")
    admin = next(u for u in stack.auth.accounts.list_users() if u.role == "admin")
    _, secret = stack.auth.keys.create(
        admin.id, name="limited", actor=Actor.local(), collections=[other.id]
    )
    limited = openai.OpenAI(base_url=embedded_server.base_url, api_key=secret, max_retries=0)
    ids = [m.id for m in limited.models.list()]
    assert "kb/other-notes" in ids
    assert MODEL not in ids
    with pytest.raises(openai.NotFoundError, match="cannot read"):
        limited.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=8
        )


def test_vector_stores_sharing_a_name_are_knowledge_models_by_id(
    embedded_client: openai.OpenAI,
) -> None:
    first = embedded_client.vector_stores.create(name="twins")
    second = embedded_client.vector_stores.create(name="twins")
    ids = [m.id for m in embedded_client.models.list()]
    assert f"kb/{first.id}" in ids
    assert f"kb/{second.id}" in ids
    assert "kb/twins" not in ids
    with pytest.raises(openai.BadRequestError, match="several collections answer to 'kb/twins'"):
        embedded_client.chat.completions.create(
            model="kb/twins", messages=[{"role": "user", "content": QUESTION}], max_tokens=8
        )
    for store in (first, second):
        embedded_client.vector_stores.delete(store.id)


def test_open_webui_source_events_carry_the_quote_when_asked_for(
    embedded_server: LiveServer, store: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    knowledge = embedded_server.stack.knowledge_models
    on = knowledge.settings.model_copy(update={"open_webui_sources": True})
    monkeypatch.setattr(knowledge, "_settings", on)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 48,
        "temperature": 0,
        "stream": True,
    }
    chunks = []
    with httpx.stream(
        "POST",
        f"{embedded_server.base_url}/chat/completions",
        json=body,
        headers=embedded_server.headers,
        timeout=120,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line.removeprefix("data: ")))
    events = [c["event"] for c in chunks if "event" in c]
    assert events
    for event in events:
        assert event["type"] == "source"
        data = event["data"]
        assert data["source"]["name"] == "pumps.pdf, p. 2"
        assert data["source"]["url"].startswith(_root(embedded_server) + "/cite/")
        assert data["metadata"][0]["page"] == 1  # Open WebUI counts pages from 0
        assert data["metadata"][0]["file"] == "pumps.pdf"
        assert data["metadata"][0]["source"] == "pumps.pdf, p. 2"
    assert any("12 March 2024" in e["data"]["document"][0] for e in events)
    kinds = {
        a["type"]
        for c in chunks
        for choice in c["choices"]
        for a in choice["delta"].get("annotations", [])
    }
    assert kinds == {"file_citation"}  # the links travel in the events instead
