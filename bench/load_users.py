"""The people `bench.load` simulates, for locust: each searches, asks grounded questions
(`kb/<collection>` through the chat completions API), uploads small files, checks their
status and logs in, with a moment of thought between requests. A 429 is a failure named by
whether it carried `Retry-After`; every 5xx and every timeout is a failure too.

Read from the environment: LOAD_KEYS (API keys, comma-separated, one per simulated account),
LOAD_LOGINS (name:password pairs, comma-separated), LOAD_COLLECTION.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

from locust import HttpUser, between, task

KEYS = os.environ.get("LOAD_KEYS", "").split(",")
LOGINS = [pair.split(":", 1) for pair in os.environ.get("LOAD_LOGINS", "").split(",") if pair]
COLLECTION = os.environ.get("LOAD_COLLECTION", "notes")
QUERIES = (
    "lighthouse tides",
    "ferry schedule in winter",
    "who repaired the harbour crane",
    "storm warnings at night",
    "cargo manifest errors",
)
QUESTIONS = (
    "When does the ferry leave in winter?",
    "What did the storm damage?",
    "Who repaired the crane?",
)
_accounts = itertools.count()


class Person(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        index = next(_accounts)
        self.key = KEYS[index % len(KEYS)]
        self.login = LOGINS[index % len(LOGINS)] if LOGINS else None
        self.uploads = 0

    @task(12)
    def search(self) -> None:
        self._call("POST", "/api/search", "search", json={"query": random.choice(QUERIES)})

    @task(3)
    def ask(self) -> None:
        body = {
            "model": f"kb/{COLLECTION}",
            "messages": [{"role": "user", "content": random.choice(QUESTIONS)}],
        }
        self._call("POST", "/v1/chat/completions", "chat (grounded)", json=body)

    @task(2)
    def upload(self) -> None:
        self.uploads += 1
        text = f"Log {id(self)}-{self.uploads}: the harbour crew noted {random.random():.6f}."
        files = {"files": (f"load-{id(self)}-{self.uploads}.txt", text.encode(), "text/plain")}
        self._call("POST", f"/api/collections/{COLLECTION}/files", "upload", files=files)

    @task(2)
    def status(self) -> None:
        self._call("GET", f"/api/collections/{COLLECTION}/files?limit=5", "file status")

    @task(1)
    def log_in(self) -> None:
        if self.login is None:
            return
        name, password = self.login
        body = {"username": name, "password": password}
        self._call("POST", "/api/auth/login", "login", json=body, authorized=False)

    def _call(
        self, method: str, path: str, name: str, *, authorized: bool = True, **kw: Any
    ) -> None:
        headers = {"Authorization": f"Bearer {self.key}"} if authorized else {}
        with self.client.request(
            method, path, name=name, headers=headers, timeout=60, catch_response=True, **kw
        ) as response:
            code = response.status_code
            if code == 429:
                has_retry_after = "retry-after" in {k.lower() for k in response.headers}
                response.failure(
                    "429 with Retry-After" if has_retry_after else "429 NO Retry-After"
                )
            elif code == 0:
                response.failure(f"no answer ({type(response.error).__name__})")
            elif code >= 500:
                response.failure(f"{code}")
            elif code >= 400:
                response.failure(f"{code} (client)")
            else:
                response.success()
