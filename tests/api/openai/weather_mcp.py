"""A real MCP server for the Responses API's `mcp` tools, made with the `mcp` SDK and served
over streamable HTTP on 127.0.0.1: `get_weather` and `get_forecast`, recording each city."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings


@dataclass
class WeatherServer:
    url: str
    calls: list[str] = field(default_factory=list)  # the cities asked for, in order


def _weather_app(record: list[str]) -> Any:
    server = MCPServer("weather-test")

    @server.tool()
    def get_weather(city: str) -> str:
        """The weather in a city now."""
        record.append(city)
        return f"18 C and sunny in {city}"

    @server.tool()
    def get_forecast(city: str, days: int = 3) -> str:
        """The weather in a city over the next days."""
        record.append(city)
        return f"rain in {city} for {days} days"

    return server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


@contextmanager
def serve_weather() -> Iterator[WeatherServer]:
    calls: list[str] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_weather_app(calls), log_level="warning"))
    thread = threading.Thread(target=server.run, args=([sock],), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the MCP server did not start")
        time.sleep(0.02)
    yield WeatherServer(f"http://127.0.0.1:{port}/mcp", calls)
    server.should_exit = True
    thread.join(timeout=10)
