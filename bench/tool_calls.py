"""Function calling with the bundled model, through mmstack's Responses API as a client
uses it: tool-call accuracy on a fixed set of prompts, and what mmstack's MCP tool loop
adds to each step beside the model's own time.

Accuracy: each prompt is sent with all ten function tools below (`temperature` 0); it is
right when the model calls the expected tool (or, for the prompts that need none, calls
none), with arguments that are valid JSON matching the tool's schema and hold the values
the prompt gives. The prompts were written for this benchmark and are not used to tune
anything (no prompt, setting or recovery rule was changed after looking at them).

Loop latency: a question answered with a remote MCP tool (a server made here with the
`mcp` SDK, allowed by `tools.mcp_servers`) takes two model calls; the same two calls are
then made alone through `/v1/chat/completions` with the same messages and tools, and the
difference is what the loop adds (connecting, listing the tools, calling one, the second
request's assembly), per step and in all. The calls alone come second and may read a
prompt prefix llama.cpp has cached, so the difference is an upper bound.

    .venv/bin/python -m bench.tool_calls [--limit N] [--loops N] [--model ID]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import uvicorn

from bench.common import free_port, median, print_table, start_server, stop_server, wait_ready
from bench.gateway import mmstack_key

MODEL = "qwen2.5-1.5b-instruct-q4km"


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> Any:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


TEXT: Any = {"type": "string"}
TOOLS = [
    _function(
        "get_weather",
        "The current weather in a city",
        {"city": TEXT, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        ["city"],
    ),
    _function(
        "get_forecast",
        "The weather forecast for a city over the next days",
        {"city": TEXT, "days": {"type": "integer", "minimum": 1, "maximum": 10}},
        ["city", "days"],
    ),
    _function(
        "send_email",
        "Send an email",
        {"to": TEXT, "subject": TEXT, "body": TEXT},
        ["to", "subject", "body"],
    ),
    _function(
        "create_event",
        "Add an event to the user's calendar",
        {"title": TEXT, "date": {"type": "string", "description": "YYYY-MM-DD"}, "time": TEXT},
        ["title", "date"],
    ),
    _function(
        "convert_currency",
        "Convert an amount of money from one currency to another",
        {"amount": {"type": "number"}, "from_currency": TEXT, "to_currency": TEXT},
        ["amount", "from_currency", "to_currency"],
    ),
    _function(
        "search_documents",
        "Search the user's documents",
        {"query": TEXT},
        ["query"],
    ),
    _function(
        "set_timer",
        "Start a countdown timer",
        {"minutes": {"type": "integer", "minimum": 1}},
        ["minutes"],
    ),
    _function(
        "get_stock_price",
        "The latest price of a stock, by its ticker symbol",
        {"symbol": TEXT},
        ["symbol"],
    ),
    _function(
        "translate",
        "Translate a text into another language",
        {"text": TEXT, "target_language": TEXT},
        ["text", "target_language"],
    ),
    _function(
        "book_table",
        "Book a table at a restaurant",
        {"restaurant": TEXT, "people": {"type": "integer", "minimum": 1}, "time": TEXT},
        ["restaurant", "people", "time"],
    ),
]
SCHEMAS = {tool["name"]: tool["parameters"] for tool in TOOLS}

# (prompt, expected tool or None, argument values the prompt gives: strings compared
# without case, numbers as numbers; a value of None only asks that the argument be there)
PROMPTS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("What's the weather like in Madrid right now?", "get_weather", {"city": "Madrid"}),
    ("Is it raining in Dublin at the moment?", "get_weather", {"city": "Dublin"}),
    (
        "Tell me the current temperature in Chicago in fahrenheit.",
        "get_weather",
        {"city": "Chicago", "unit": "fahrenheit"},
    ),
    ("How cold is it in Oslo today?", "get_weather", {"city": "Oslo"}),
    (
        "What will the weather be in Rome over the next 5 days?",
        "get_forecast",
        {"city": "Rome", "days": 5},
    ),
    ("Give me a 3 day forecast for Nairobi.", "get_forecast", {"city": "Nairobi", "days": 3}),
    (
        "Forecast for Vancouver for the coming week, 7 days please.",
        "get_forecast",
        {"city": "Vancouver", "days": 7},
    ),
    (
        "Email bob@example.com with the subject 'Lunch' and say I will be 10 minutes late.",
        "send_email",
        {"to": "bob@example.com", "subject": "Lunch", "body": None},
    ),
    (
        "Send a message to maria.lopez@example.org titled 'Invoice 118' telling her it is paid.",
        "send_email",
        {"to": "maria.lopez@example.org", "subject": "Invoice 118", "body": None},
    ),
    (
        "Write to team@example.net, subject 'Release', body: the release moves to Friday.",
        "send_email",
        {"to": "team@example.net", "subject": "Release", "body": None},
    ),
    (
        "Add 'Dentist' to my calendar on 2027-03-14 at 09:30.",
        "create_event",
        {"title": "Dentist", "date": "2027-03-14"},
    ),
    (
        "Schedule a 'Project kickoff' on 2027-01-08.",
        "create_event",
        {"title": "Project kickoff", "date": "2027-01-08"},
    ),
    (
        "Put Anna's birthday party in my calendar for 2027-06-21 at 18:00.",
        "create_event",
        {"date": "2027-06-21", "title": None},
    ),
    (
        "How much is 250 US dollars in euros?",
        "convert_currency",
        {"amount": 250, "from_currency": "USD", "to_currency": "EUR"},
    ),
    (
        "Convert 1200 JPY to GBP.",
        "convert_currency",
        {"amount": 1200, "from_currency": "JPY", "to_currency": "GBP"},
    ),
    (
        "What are 80 Swiss francs worth in Canadian dollars?",
        "convert_currency",
        {"amount": 80, "from_currency": "CHF", "to_currency": "CAD"},
    ),
    ("Find my notes about the quarterly budget.", "search_documents", {"query": None}),
    ("Search my documents for the lease agreement.", "search_documents", {"query": None}),
    (
        "Look through my files for anything on the Falcon migration.",
        "search_documents",
        {"query": None},
    ),
    ("Set a timer for 15 minutes.", "set_timer", {"minutes": 15}),
    ("Start a 45 minute countdown.", "set_timer", {"minutes": 45}),
    ("Remind me in 5 minutes with a timer.", "set_timer", {"minutes": 5}),
    ("What is Apple's stock price? The ticker is AAPL.", "get_stock_price", {"symbol": "AAPL"}),
    ("Check the price of MSFT shares.", "get_stock_price", {"symbol": "MSFT"}),
    ("How is NVDA trading right now?", "get_stock_price", {"symbol": "NVDA"}),
    (
        "Translate 'Where is the train station?' into German.",
        "translate",
        {"target_language": "German", "text": None},
    ),
    (
        "How do you say 'thank you very much' in Japanese? Please translate it.",
        "translate",
        {"target_language": "Japanese", "text": None},
    ),
    (
        "Translate this into Spanish: 'The meeting is cancelled.'",
        "translate",
        {"target_language": "Spanish", "text": None},
    ),
    (
        "Book a table for 4 at Chez Panisse at 19:30.",
        "book_table",
        {"restaurant": "Chez Panisse", "people": 4, "time": None},
    ),
    (
        "Reserve a table for two people at Nopa tonight at 8pm.",
        "book_table",
        {"restaurant": "Nopa", "people": 2, "time": None},
    ),
    (
        "Can you get us a table at The Ivy for 6 people at 13:00?",
        "book_table",
        {"restaurant": "The Ivy", "people": 6, "time": None},
    ),
    ("I'm heading to Lisbon. What's the weather there now?", "get_weather", {"city": "Lisbon"}),
    (
        "Will I need an umbrella in Seattle over the next 2 days?",
        "get_forecast",
        {"city": "Seattle", "days": 2},
    ),
    (
        "Let my landlord know at landlord@example.com that the heating is broken; subject "
        "'Heating'.",
        "send_email",
        {"to": "landlord@example.com", "subject": "Heating", "body": None},
    ),
    (
        "I need 500 euros in Polish zloty, how much is that?",
        "convert_currency",
        {"amount": 500, "from_currency": "EUR", "to_currency": "PLN"},
    ),
    ("Do I have any documents mentioning 'insurance claim'?", "search_documents", {"query": None}),
    ("Pasta is in the oven: set a timer for 12 minutes.", "set_timer", {"minutes": 12}),
    ("What's Tesla trading at? Symbol TSLA.", "get_stock_price", {"symbol": "TSLA"}),
    (
        "Please translate 'good morning' into French.",
        "translate",
        {"target_language": "French", "text": None},
    ),
    (
        "Add a 'Team retro' meeting on 2027-02-02 at 15:00 to my calendar.",
        "create_event",
        {"title": "Team retro", "date": "2027-02-02"},
    ),
    ("Write a haiku about autumn leaves.", None, {}),
    ("What is the capital of Japan?", None, {}),
    ("Explain in one sentence what a prime number is.", None, {}),
    ("Hello! How are you today?", None, {}),
]


@dataclass
class Outcome:
    right: bool
    called: str | None
    why: str
    seconds: float


def _matches(given: Any, wanted: Any) -> bool:
    if wanted is None:
        return given not in (None, "")
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        return isinstance(given, (int, float)) and float(given) == float(wanted)
    return isinstance(given, str) and given.strip().lower() == str(wanted).strip().lower()


def judge(
    expected: str | None, values: dict[str, Any], output: list[dict[str, Any]]
) -> tuple[bool, str | None, str]:
    calls = [item for item in output if item.get("type") == "function_call"]
    if expected is None:
        return (not calls, calls[0]["name"] if calls else None, "called a tool" if calls else "")
    if not calls:
        return False, None, "no call"
    call = calls[0]
    if call["name"] != expected:
        return False, call["name"], f"called {call['name']}"
    try:
        arguments = json.loads(call["arguments"])
        jsonschema.validate(arguments, SCHEMAS[expected])
    except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
        return False, expected, f"invalid arguments: {str(exc).splitlines()[0]}"
    wrong = [k for k, v in values.items() if not _matches(arguments.get(k), v)]
    if wrong:
        return False, expected, f"wrong {', '.join(wrong)}: {arguments}"
    return True, expected, ""


def _weather_mcp_app() -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    server = MCPServer("bench-weather")

    @server.tool()
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return f"12 degrees and cloudy in {city}"

    return server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def _serve_mcp() -> tuple[str, uvicorn.Server]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_weather_mcp_app(), log_level="warning"))
    threading.Thread(target=server.run, args=([sock],), daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}/mcp", server


LOOP_QUESTIONS = [
    "What is the weather in Bergen right now?",
    "How is the weather in Tunis at the moment?",
    "Is it cold in Calgary today?",
    "What's the weather like in Hanoi now?",
    "Tell me the current weather in Porto.",
]


def loop_latency(client: httpx.Client, mcp_url: str, model: str, count: int) -> list[list[Any]]:
    """Rows: question, steps, loop seconds, the model's own seconds, added per step."""
    rows = []
    server = {
        "type": "mcp",
        "server_label": "weather",
        "server_url": mcp_url,
        "require_approval": "never",
    }
    for question in LOOP_QUESTIONS[:count]:
        # The loop first, then its model calls alone: llama.cpp reuses a cached prompt
        # prefix, so the calls alone may read less than the loop did, and the time added
        # comes out as an upper bound.
        answered, loop_seconds = _loop(client, model, question, server)
        own = _alone(client, model, question, answered)
        steps = sum(item["type"] == "mcp_call" for item in answered["output"]) + 1
        rows.append(
            [
                question,
                steps,
                f"{loop_seconds:.2f}",
                f"{own:.2f}",
                f"{(loop_seconds - own) / steps:+.2f}",
                f"{loop_seconds / own:.2f}x",
            ]
        )
    return rows


def _loop(
    client: httpx.Client, model: str, question: str, server: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    answered: dict[str, Any] = client.post(
        "/v1/responses",
        json={"model": model, "input": question, "tools": [server], "temperature": 0},
    ).json()
    return answered, time.perf_counter() - started


def _alone(client: httpx.Client, model: str, question: str, answered: dict[str, Any]) -> float:
    """The model calls of `answered`'s loop made alone through chat completions."""
    calls = [item for item in answered["output"] if item["type"] == "mcp_call"]
    listing = next(item for item in answered["output"] if item["type"] == "mcp_list_tools")
    functions = [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool["description"],
                "parameters": tool["input_schema"],
            },
        }
        for tool in listing["tools"]
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    own = 0.0
    for call in calls:
        own += _chat(client, model, messages, functions)
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": call["output"] or ""},
        ]
    return own + _chat(client, model, messages, functions)


def _chat(
    client: httpx.Client, model: str, messages: list[dict[str, Any]], tools: list[Any]
) -> float:
    started = time.perf_counter()
    done = client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": messages, "tools": tools, "temperature": 0},
    )
    done.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=len(PROMPTS), help="prompts to send")
    parser.add_argument("--loops", type=int, default=len(LOOP_QUESTIONS), help="loop questions")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args()

    mcp_url, mcp_server = _serve_mcp()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tools-"))
    data_dir = workdir / "data"
    key = mmstack_key(data_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    env |= {
        "MMSTACK_DATA_DIR": str(data_dir),
        "MMSTACK_LOG_LEVEL": "WARNING",
        "MMSTACK_LLM__EMBEDDED__MODELS": json.dumps([args.model]),
        "MMSTACK_LLM__DEFAULT_MODEL": args.model,
        "MMSTACK_TOOLS__MCP_SERVERS": json.dumps([mcp_url]),
        "MMSTACK_QUOTAS__REQUESTS_PER_MINUTE": "0",
    }
    log = workdir / "server.log"
    process = start_server([sys.executable, "-m", "mmstack", "up", "--port", str(port)], env, log)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600
        ) as client:
            wait_ready(client, process, log)
            outcomes = []
            for prompt, expected, values in PROMPTS[: args.limit]:
                started = time.perf_counter()
                answer = client.post(
                    "/v1/responses",
                    json={"model": args.model, "input": prompt, "tools": TOOLS, "temperature": 0},
                )
                answer.raise_for_status()
                right, called, why = judge(expected, values, answer.json()["output"])
                outcomes.append(Outcome(right, called, why, time.perf_counter() - started))
                if not right:
                    print(f"wrong: {prompt!r}: expected {expected}, {why}", file=sys.stderr)
            loops = loop_latency(client, mcp_url, args.model, args.loops)
    finally:
        stop_server(process)
        mcp_server.should_exit = True

    tool_prompts = [o for o, p in zip(outcomes, PROMPTS, strict=False) if p[1] is not None]
    plain_prompts = [o for o, p in zip(outcomes, PROMPTS, strict=False) if p[1] is None]
    groups = {"tool prompts": tool_prompts, "no-tool prompts": plain_prompts, "all": outcomes}
    print(f"Tool-call accuracy, {args.model} through /v1/responses (10 function tools offered):")
    print_table(
        ["prompts", "count", "right", "accuracy", "median s"],
        [
            [
                name,
                len(group),
                sum(o.right for o in group),
                f"{sum(o.right for o in group) / len(group):.3f}" if group else "-",
                f"{median([o.seconds for o in group]):.2f}" if group else "-",
            ]
            for name, group in groups.items()
        ],
    )
    print()
    print("MCP tool loop: the response's time against the same model calls made alone:")
    print_table(
        [
            "question",
            "model calls",
            "loop s",
            "model alone s",
            "added per step s",
            "loop / model",
        ],
        loops,
    )


if __name__ == "__main__":
    main()
