"""Roles and what each may do (the permission matrix in docs/AUTH.md is this table)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"  # list, get, download and search the team's data
    INFER = "infer"  # models: chat, responses, embeddings, transcription
    WRITE = "write"  # create, change and delete the team's collections, files, stores
    OPERATE = "operate"  # background jobs and usage reports
    KEYS = "keys"  # one's own API keys
    ADMIN = "admin"  # users, teams, roles, every key, the audit log


ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DEVELOPER: frozenset(
        {Permission.READ, Permission.INFER, Permission.WRITE, Permission.KEYS}
    ),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.INFER, Permission.OPERATE, Permission.KEYS}
    ),
    Role.VIEWER: frozenset({Permission.READ, Permission.INFER}),
}

# What an API key can ever do: data, models and (for an operator or admin) job status;
# never accounts, keys or the audit log (a leaked key must not be able to make more keys
# or hide its tracks).
KEY_PERMISSIONS: Final = {
    "read": frozenset({Permission.READ, Permission.INFER, Permission.OPERATE}),
    "write": frozenset({Permission.READ, Permission.INFER, Permission.OPERATE, Permission.WRITE}),
}


class EndpointGroup(StrEnum):
    """What an API key may be limited to; each router belongs to one group."""

    MODELS = "models"
    EMBEDDINGS = "embeddings"
    CHAT = "chat"  # chat completions
    RESPONSES = "responses"
    AUDIO = "audio"
    FILES = "files"
    VECTOR_STORES = "vector_stores"
    COLLECTIONS = "collections"  # native collections and their files
    SEARCH = "search"
    JOBS = "jobs"
    CONVERSATIONS = "conversations"  # conversations kept for their user (the console's)
    AGENTS = "agents"  # stored agents (calling one is `responses`)
    MEMORIES = "memories"  # one's own long-term memories
