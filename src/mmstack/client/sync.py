"""`Client`: the native API from ordinary code, on an `httpx.Client`."""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from typing import Any, Self, TypeVar

import httpx

from mmstack.client import calls, models
from mmstack.client.calls import Call
from mmstack.client.transport import (
    Credentials,
    Send,
    Session,
    request_arguments,
    result,
    wait_before_retry,
)
from mmstack.client.uploads import Counter, Progress, UploadSource, batches, opened, uploads_of

T = TypeVar("T")
DONE = frozenset({"completed", "failed"})


class Client:
    """mmstack's native API (collections, uploads, search, jobs, keys, users, usage).

    `Client("http://localhost:8000", api_key="mmk_...")`; use it as a context manager or
    `close()` it. Failed requests raise `mmstack.client.MmstackError` (a subclass per
    status); a 429 or 503 is tried again `max_retries` times, after the server's
    `Retry-After`. For `/v1`, use the `openai` SDK with the same URL and key."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 2,
        http: httpx.Client | None = None,
    ) -> None:
        self._session = Session.of(base_url, timeout, max_retries)
        self._credentials = Credentials(api_key)
        self._http = http or httpx.Client(**self._session.http_options())
        self.collections = Collections(self.send)
        self.keys = Keys(self.send)
        self.users = Users(self.send)
        self.jobs = Jobs(self.send)

    def send(self, call: Call[T]) -> T:
        """One operation (see `mmstack.client.calls`), tried again on 429 and 503."""
        attempt, refreshed = 0, False
        while True:
            arguments = request_arguments(call, self._credentials)
            response = self._http.request(call.method, call.path, **arguments)
            if self._credentials.may_refresh(response, refreshed):
                self._refresh()
                refreshed = True
                continue
            wait = wait_before_retry(response, attempt, self._session.max_retries)
            if wait is None:
                return result(call, response)
            attempt += 1
            time.sleep(wait)

    def _refresh(self) -> None:
        call = calls.refresh(self._credentials.refresh_token or "")
        response = self._http.request(call.method, call.path, json=call.json)
        self._credentials.took(result(call, response))

    def search(
        self,
        query: str,
        *,
        collections: Sequence[str] | None = None,
        mode: str | None = None,
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
    ) -> models.SearchResponse:
        return self.send(calls.search(query, collections, mode, top_k, filters))

    def usage(
        self, *, since: str | None = None, until: str | None = None
    ) -> builtins.list[models.UsageOut]:
        return self.send(calls.usage(since, until))

    def login(
        self,
        username: str,
        password: str,
        *,
        totp_code: str | None = None,
        recovery_code: str | None = None,
    ) -> models.TokenOut:
        """Logs in as an account (administration needs one: API keys never hold it); the
        client then sends its access token and refreshes it when it expires."""
        tokens = self.send(calls.login(username, password, totp_code, recovery_code))
        self._credentials.took(tokens)
        return tokens

    def me(self) -> models.UserOut:
        return self.send(calls.me())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Collections:
    def __init__(self, send: Send) -> None:
        self._send = send

    def list(self) -> builtins.list[models.CollectionOut]:
        return self._send(calls.list_collections())

    def get(self, collection: str) -> models.CollectionOut:
        """By id or by name."""
        return self._send(calls.get_collection(collection))

    def create(self, name: str, *, description: str | None = None) -> models.CollectionOut:
        return self._send(calls.create_collection(name, description))

    def update(
        self, collection: str, *, name: str, description: str | None = None
    ) -> models.CollectionOut:
        return self._send(calls.update_collection(collection, name, description))

    def delete(self, collection: str) -> str:
        return self._send(calls.delete_collection(collection))

    def upload(
        self,
        collection: str,
        files: Sequence[UploadSource],
        *,
        tags: Sequence[str] = (),
        on_progress: Progress | None = None,
        files_per_request: int = 16,
    ) -> builtins.list[models.FileOut]:
        """Uploads files (paths, or `(filename, bytes or binary file)`) and queues their
        ingestion; `on_progress(sent, total)` hears of every chunk sent. Each file comes back
        as the server took it (a failed one with its reason, a duplicate marked)."""
        uploads = uploads_of(files)
        counter = Counter(sum(u.size for u in uploads), on_progress)
        taken: builtins.list[models.FileOut] = []
        for batch in batches(uploads, files_per_request):
            with opened(batch, counter) as parts:
                taken.extend(self._send(calls.upload_files(collection, parts, tags)))
        return taken

    def files(self, collection: str, *, status: str | None = None) -> builtins.list[models.FileOut]:
        return self._send(calls.list_files(collection, status))

    def file(self, collection: str, file_id: str) -> models.FileOut:
        return self._send(calls.get_file(collection, file_id))

    def delete_file(self, collection: str, file_id: str) -> str:
        return self._send(calls.delete_file(collection, file_id))

    def retry_file(self, collection: str, file_id: str) -> models.FileOut:
        return self._send(calls.retry_file(collection, file_id))

    def passages(self, collection: str, file_id: str) -> builtins.list[models.PassageOut]:
        return self._send(calls.file_passages(collection, file_id))

    def wait(
        self, collection: str, file_ids: Sequence[str], *, timeout: float = 600.0
    ) -> builtins.list[models.FileOut]:
        """The files once each is ingested or failed (polled); a `TimeoutError` after
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.2
        while True:
            found = [self.file(collection, file_id) for file_id in file_ids]
            if all(f.status in DONE for f in found):
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"files still ingesting after {timeout} s")
            time.sleep(pause)
            pause = min(2.0, pause * 1.5)


class Keys:
    def __init__(self, send: Send) -> None:
        self._send = send

    def create(
        self,
        name: str,
        *,
        access: str | None = None,
        endpoints: Sequence[str] | None = None,
        collections: Sequence[str] | None = None,
        expires_at: int | None = None,
    ) -> models.KeyCreated:
        """A new key; its secret (`key`) is in this answer only."""
        return self._send(calls.create_key(name, access, endpoints, collections, expires_at))

    def list(self) -> builtins.list[models.KeyOut]:
        return self._send(calls.list_keys())

    def get(self, key_id: str) -> models.KeyOut:
        return self._send(calls.get_key(key_id))

    def revoke(self, key_id: str) -> models.KeyOut:
        return self._send(calls.revoke_key(key_id))


class Users:
    """Administrators only."""

    def __init__(self, send: Send) -> None:
        self._send = send

    def list(self, *, team: str | None = None) -> builtins.list[models.UserOut]:
        return self._send(calls.list_users(team))

    def get(self, user: str) -> models.UserOut:
        return self._send(calls.get_user(user))

    def create(
        self,
        username: str,
        *,
        role: str | None = None,
        team: str | None = None,
        password: str | None = None,
    ) -> models.UserCreated:
        """A new user; without a password, one is generated and returned once."""
        return self._send(calls.create_user(username, role, team, password))

    def update(
        self,
        user: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        quotas: dict[str, int] | None = None,
    ) -> models.UserOut:
        return self._send(calls.update_user(user, role, disabled, quotas))


class Jobs:
    def __init__(self, send: Send) -> None:
        self._send = send

    def list(
        self, *, status: str | None = None, limit: int | None = None
    ) -> builtins.list[models.JobOut]:
        return self._send(calls.list_jobs(status, limit))

    def get(self, job_id: int) -> models.JobOut:
        return self._send(calls.get_job(job_id))
