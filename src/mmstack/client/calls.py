"""Each operation of the native API described once, as a `Call`: the method, path, query,
body and how to read the answer. `Client` and `AsyncClient` send the same calls, so the two
cannot drift apart; the models are generated from the OpenAPI document (`models.py`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from mmstack.client import models

T = TypeVar("T", covariant=True)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]  # the JSON answer (None when there is none) to the result
    params: dict[str, Any] | None = None
    json: Any = None
    files: list[tuple[str, Any]] = field(default_factory=list)
    data: dict[str, Any] | None = None


def one(model: type[M]) -> Callable[[Any], M]:
    return model.model_validate


def listed(model: type[M]) -> Callable[[Any], list[M]]:
    """The `data` of a `{"object": "list", "data": [...]}` answer, each item a `model`."""
    return lambda body: [model.model_validate(item) for item in body["data"]]


def nothing(_: Any) -> None:
    return None


def deleted(body: Any) -> str:
    return str(body["id"])


def body(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """`fields` checked against the request's model, as JSON, unset ones left out."""
    given = {name: value for name, value in fields.items() if value is not None}
    return model.model_validate(given).model_dump(mode="json", exclude_unset=True)


def part(value: str) -> str:
    """A path segment (a collection's name may hold any character)."""
    return quote(value, safe="")


# Collections


def list_collections() -> Call[list[models.CollectionOut]]:
    return Call("GET", "/api/collections", listed(models.CollectionOut))


def get_collection(collection: str) -> Call[models.CollectionOut]:
    return Call("GET", f"/api/collections/{part(collection)}", one(models.CollectionOut))


def create_collection(name: str, description: str | None) -> Call[models.CollectionOut]:
    sent = body(models.CollectionCreate, name=name, description=description)
    return Call("POST", "/api/collections", one(models.CollectionOut), json=sent)


def update_collection(
    collection: str, name: str, description: str | None
) -> Call[models.CollectionOut]:
    sent = body(models.CollectionUpdate, name=name, description=description)
    path = f"/api/collections/{part(collection)}"
    return Call("PATCH", path, one(models.CollectionOut), json=sent)


def delete_collection(collection: str) -> Call[str]:
    return Call("DELETE", f"/api/collections/{part(collection)}", deleted)


# Files of a collection


def upload_files(
    collection: str, files: list[tuple[str, Any]], tags: Sequence[str]
) -> Call[list[models.FileOut]]:
    path = f"/api/collections/{part(collection)}/files"
    data = {"tags": list(tags)} if tags else None
    return Call("POST", path, listed(models.FileOut), files=files, data=data)


def list_files(collection: str, status: str | None) -> Call[list[models.FileOut]]:
    path = f"/api/collections/{part(collection)}/files"
    params = {"status": status} if status else None
    return Call("GET", path, listed(models.FileOut), params=params)


def get_file(collection: str, file_id: str) -> Call[models.FileOut]:
    path = f"/api/collections/{part(collection)}/files/{part(file_id)}"
    return Call("GET", path, one(models.FileOut))


def delete_file(collection: str, file_id: str) -> Call[str]:
    return Call("DELETE", f"/api/collections/{part(collection)}/files/{part(file_id)}", deleted)


def retry_file(collection: str, file_id: str) -> Call[models.FileOut]:
    path = f"/api/collections/{part(collection)}/files/{part(file_id)}/retry"
    return Call("POST", path, one(models.FileOut))


def file_passages(collection: str, file_id: str) -> Call[list[models.PassageOut]]:
    path = f"/api/collections/{part(collection)}/files/{part(file_id)}/passages"
    return Call("GET", path, listed(models.PassageOut))


# Search, jobs, usage


def search(
    query: str,
    collections: Sequence[str] | None,
    mode: str | None,
    top_k: int | None,
    filters: dict[str, Any] | None,
) -> Call[models.SearchResponse]:
    sent = body(
        models.SearchRequest,
        query=query,
        collections=list(collections) if collections is not None else None,
        mode=mode,
        top_k=top_k,
        filters=filters,
    )
    return Call("POST", "/api/search", one(models.SearchResponse), json=sent)


def list_jobs(status: str | None, limit: int | None) -> Call[list[models.JobOut]]:
    params = {k: v for k, v in {"status": status, "limit": limit}.items() if v is not None}
    return Call("GET", "/api/jobs", listed(models.JobOut), params=params or None)


def get_job(job_id: int) -> Call[models.JobOut]:
    return Call("GET", f"/api/jobs/{job_id}", one(models.JobOut))


def usage(since: str | None, until: str | None) -> Call[list[models.UsageOut]]:
    params = {k: v for k, v in {"since": since, "until": until}.items() if v is not None}
    return Call("GET", "/api/usage", listed(models.UsageOut), params=params or None)


# Keys


def create_key(
    name: str,
    access: str | None,
    endpoints: Sequence[str] | None,
    collections: Sequence[str] | None,
    expires_at: int | None,
) -> Call[models.KeyCreated]:
    sent = body(
        models.KeyCreate,
        name=name,
        access=access,
        endpoints=list(endpoints) if endpoints is not None else None,
        collections=list(collections) if collections is not None else None,
        expires_at=expires_at,
    )
    return Call("POST", "/api/keys", one(models.KeyCreated), json=sent)


def list_keys() -> Call[list[models.KeyOut]]:
    return Call("GET", "/api/keys", listed(models.KeyOut))


def get_key(key_id: str) -> Call[models.KeyOut]:
    return Call("GET", f"/api/keys/{part(key_id)}", one(models.KeyOut))


def revoke_key(key_id: str) -> Call[models.KeyOut]:
    return Call("DELETE", f"/api/keys/{part(key_id)}", one(models.KeyOut))


# Users (administrators)


def list_users(team: str | None) -> Call[list[models.UserOut]]:
    params = {"team": team} if team else None
    return Call("GET", "/api/users", listed(models.UserOut), params=params)


def get_user(user: str) -> Call[models.UserOut]:
    return Call("GET", f"/api/users/{part(user)}", one(models.UserOut))


def create_user(
    username: str, role: str | None, team: str | None, password: str | None
) -> Call[models.UserCreated]:
    sent = body(models.UserCreate, username=username, role=role, team=team, password=password)
    return Call("POST", "/api/users", one(models.UserCreated), json=sent)


def update_user(
    user: str, role: str | None, disabled: bool | None, quotas: dict[str, int] | None
) -> Call[models.UserOut]:
    sent = body(models.UserUpdate, role=role, disabled=disabled, quotas=quotas)
    return Call("PATCH", f"/api/users/{part(user)}", one(models.UserOut), json=sent)


def login(
    username: str, password: str, totp_code: str | None, recovery_code: str | None
) -> Call[models.TokenOut]:
    sent = body(
        models.LoginRequest,
        username=username,
        password=password,
        totp_code=totp_code,
        recovery_code=recovery_code,
    )
    return Call("POST", "/api/auth/login", one(models.TokenOut), json=sent)


def refresh(refresh_token: str) -> Call[models.TokenOut]:
    sent = body(models.RefreshRequest, refresh_token=refresh_token)
    return Call("POST", "/api/auth/refresh", one(models.TokenOut), json=sent)


def me() -> Call[models.UserOut]:
    return Call("GET", "/api/auth/me", one(models.UserOut))
