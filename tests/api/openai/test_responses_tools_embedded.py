"""Function calling through `/v1/responses` on the bundled 1.5B model, driven by the
official `openai` SDK as its users write the weather round trip: the model calls the
function, the client runs it and sends the output back with `previous_response_id` (and,
once more, through a conversation kept by the client, and through the Conversations
API), and the model answers from it; whole and streamed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    Settings,
    ToolSettings,
)
from mmstack.models.catalog import QWEN_1_5B_ID
from tests.api.live_server import LiveServer, serve
from tests.api.openai.weather_mcp import WeatherServer, serve_weather

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city's name"}},
        "required": ["city"],
    },
}
REPORT = "14 degrees Celsius and light rain"


@pytest.fixture(scope="module")
def weather() -> Iterator[WeatherServer]:
    with serve_weather() as server:
        yield server


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, weather: WeatherServer
) -> Iterator[openai.OpenAI]:
    embedded = EmbeddedLlmSettings(models=[QWEN_1_5B_ID], context_size=4096)
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("tools")),
        ingest=IngestSettings(workers=0),
        llm=LlmSettings(default_model=QWEN_1_5B_ID, embedded=embedded),
        tools=ToolSettings(mcp_servers=[weather.url]),
    )
    server: LiveServer
    with serve(settings) as server:
        yield openai.OpenAI(
            base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=300
        )


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_the_weather_round_trip(client: openai.OpenAI, streamed: bool) -> None:
    fields: Any = {"model": QWEN_1_5B_ID, "tools": [WEATHER], "temperature": 0}

    def create(**more: Any) -> Any:
        if not streamed:
            return client.responses.create(**fields, **more)
        with client.responses.stream(**fields, **more) as stream:
            return stream.get_final_response()

    first = create(input="What is the weather like in Paris today?")
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}

    # The function's output, by previous_response_id: the model answers from it.
    output = {"type": "function_call_output", "call_id": call.call_id, "output": REPORT}
    second = create(input=[output], previous_response_id=first.id)
    assert second.status == "completed"
    assert "14" in second.output_text, second.output
    assert not [item for item in second.output if item.type == "function_call"]

    # The same exchange kept by the client instead (store off): the items as input.
    exchange = [
        {"role": "user", "content": "What is the weather like in Paris today?"},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        output,
    ]
    again = create(input=exchange, store=False)
    assert "14" in again.output_text, again.output_text

    # Through the Conversations API: the conversation holds the turn between requests.
    conversation = client.conversations.create()
    asked = create(input="What is the weather like in Paris today?", conversation=conversation.id)
    [call] = [item for item in asked.output if item.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Paris"}
    output = {"type": "function_call_output", "call_id": call.call_id, "output": REPORT}
    answered = create(input=[output], conversation={"id": conversation.id})
    assert "14" in answered.output_text, answered.output
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert items[-1].id == answered.output[-1].id


def test_the_model_uses_a_remote_mcp_tool(client: openai.OpenAI, weather: WeatherServer) -> None:
    """The 1.5B model picks the MCP server's tool, mmstack calls it, and the model answers
    from what it returned."""
    weather.calls.clear()
    server: Any = {
        "type": "mcp",
        "server_label": "weather",
        "server_url": weather.url,
        "require_approval": "never",
    }
    response: Any = client.responses.create(
        model=QWEN_1_5B_ID,
        input="What is the weather like in Lisbon right now?",
        tools=[server],
        temperature=0,
    )
    kinds = [item.type for item in response.output]
    assert kinds[:2] == ["mcp_list_tools", "mcp_call"], response.output
    assert kinds[-1] == "message"
    call = response.output[1]
    assert call.name == "get_weather"
    assert weather.calls == ["Lisbon"]
    assert "18" in response.output_text, response.output_text


def _current_memories(client: openai.OpenAI, count: int) -> list[str]:
    """The caller's current memories' texts once they have changed `count` times (noting
    runs after each answer)."""
    url = str(client.base_url).removesuffix("/v1/") + "/api/memory/export"
    headers = {"Authorization": f"Bearer {client.api_key}"}
    deadline = time.monotonic() + 300
    while True:
        kept = httpx.get(url, headers=headers).json()["memories"]
        if len(kept) >= count or time.monotonic() > deadline:
            return [m["text"] for m in kept if m["replaced_by"] is None]
        time.sleep(0.5)


def test_the_model_notes_and_recalls_memories(client: openai.OpenAI) -> None:
    """What a person says about themselves is noted by the 1.5B model (a question is not),
    and a later conversation is answered from the memories."""
    memory: Any = {"type": "memory"}
    fields: Any = {"model": QWEN_1_5B_ID, "tools": [memory], "temperature": 0}
    client.responses.create(input="Hello! I'm Ana, I live in Lyon and I work as a nurse.", **fields)
    noted = _current_memories(client, 2)
    assert any("Lyon" in text for text in noted), noted
    assert any("nurse" in text for text in noted), noted

    answer = client.responses.create(input="Which city do I live in?", **fields)
    assert "Lyon" in answer.output_text, answer.output_text
    assert not any(text.endswith("?") for text in _current_memories(client, len(noted)))
