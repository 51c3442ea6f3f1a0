"""A live mmstack server: uvicorn on a free port of 127.0.0.1, in a thread of this process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mmstack.api.app import create_app, server_config
from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.config.settings import Settings
from mmstack.stack import Stack


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # ends in /v1
    app: FastAPI
    api_key: str  # the first admin's

    @property
    def stack(self) -> Stack:
        stack: Stack = self.app.state.stack
        return stack

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def client_stack(client: TestClient) -> Stack:
    """The stack behind a TestClient's app."""
    assert isinstance(client.app, FastAPI)
    stack: Stack = client.app.state.stack
    return stack


def admin_key(stack: Stack) -> str:
    """A new API key of the first admin (made when the stack first opened)."""
    admin = next(u for u in stack.auth.accounts.list_users() if u.role == "admin")
    _, token = stack.auth.keys.create(admin.id, name="tests", actor=Actor.local())
    return token


def developer_key(stack: Stack, username: str) -> dict[str, str]:
    """The Authorization header of a new developer's new API key."""
    stack.auth.accounts.create_user(username, role=Role.DEVELOPER, actor=Actor.local())
    _, token = stack.auth.keys.create(username, name="k", actor=Actor.local())
    return {"Authorization": f"Bearer {token}"}


def team_key(stack: Stack, username: str, team: str, **options: Any) -> str:
    """A new API key of `username`, a developer of `team` (each made when first named);
    `options` are the key's (access, endpoints)."""
    accounts = stack.auth.accounts
    if team not in {t.name for t in accounts.list_teams()}:
        accounts.create_team(team, actor=Actor.local())
    team_id = next(t.id for t in accounts.list_teams() if t.name == team)
    if username not in {u.username for u in accounts.list_users()}:
        accounts.create_user(username, role=Role.DEVELOPER, team=team_id, actor=Actor.local())
    _, token = stack.auth.keys.create(username, name="tests", actor=Actor.local(), **options)
    return token


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}/v1", app, admin_key(app.state.stack))
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
