"""A live mmstack server: uvicorn on a free port of 127.0.0.1, in a thread of this process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from mmstack.api.app import create_app
from mmstack.config.settings import Settings
from mmstack.stack import Stack


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # ends in /v1
    app: FastAPI

    @property
    def stack(self) -> Stack:
        stack: Stack = self.app.state.stack
        return stack


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}/v1", app)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
