"""SQLAlchemy models: the source of truth. The vector index is derived from `chunks`."""

# Longer than 400 lines: every table in one module, the schema read whole in one place (the
# migrations are checked against it); each class is a table and nothing else.

from __future__ import annotations

import secrets
import time
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def now() -> int:
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class FileStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class FileErrorCode(StrEnum):
    """Why a collection file failed; OpenAI's `last_error.code`, plus `cancelled`."""

    INVALID_FILE = "invalid_file"
    UNSUPPORTED_FILE = "unsupported_file"
    SERVER_ERROR = "server_error"
    CANCELLED = "cancelled"  # its file batch was cancelled before it was processed


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# The team that owns what was made before teams existed, and what the local CLI makes.
DEFAULT_TEAM_ID = "team_default"
# Integer row ids are 32-bit on PostgreSQL: a larger one names no row.
MAX_ROW_ID = 2**31 - 1


class Collection(Base):
    __tablename__ = "collections"
    # Names repeat only through OpenAI's vector stores; the native API keeps them unique.
    __table_args__ = (Index("ix_collections_team_id_name", "team_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("vs_"))
    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id"), default=DEFAULT_TEAM_ID, server_default=DEFAULT_TEAM_ID
    )
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class StoredFile(Base):
    """Uploaded bytes, content-addressed in the blob store by `sha256`.

    A file uploaded straight into a collection belongs to the collections that use it and
    goes when the last of them lets it go. A `standalone` file (uploaded through the Files
    API) exists on its own until deleted; deleting it removes it from every collection.
    """

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("file-"))
    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id"), default=DEFAULT_TEAM_ID, server_default=DEFAULT_TEAM_ID, index=True
    )
    filename: Mapped[str] = mapped_column(String(1024))
    media_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(32), default="assistants")
    standalone: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # What parsing learned about a media file (dimensions, duration, EXIF, codecs...), its
    # preview image (a key in `file_assets`) and, for pictures, a perceptual hash that
    # makes the same picture uploaded twice one file.
    media_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    thumbnail: Mapped[str | None] = mapped_column(String(64))
    perceptual_hash: Mapped[str | None] = mapped_column(String(32), index=True)


class FileAsset(Base):
    """An image derived from a file (its thumbnail, a video frame, a page render), stored
    in the blob store by sha256 and served only as part of that file."""

    __tablename__ = "file_assets"

    file_id: Mapped[str] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    media_type: Mapped[str] = mapped_column(String(64))


class CollectionFile(Base):
    """A file's membership in a collection and its ingestion state there."""

    __tablename__ = "collection_files"
    __table_args__ = (
        UniqueConstraint("collection_id", "file_id"),
        UniqueConstraint("collection_id", "sha256"),
        Index("ix_collection_files_status", "collection_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    # The bytes' sha256 for a file uploaded straight into the collection, where the same
    # bytes twice are one file (unique per collection). NULL for a standalone file attached
    # by id: two Files API uploads of the same bytes stay two files, as in OpenAI.
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=FileStatus.QUEUED)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)

    file: Mapped[StoredFile] = relationship(lazy="joined")


class FileBatch(Base):
    """Files attached to a collection together (OpenAI's vector store file batch)."""

    __tablename__ = "file_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("vsfb_"))
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class FileBatchMember(Base):
    __tablename__ = "file_batch_files"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("file_batches.id", ondelete="CASCADE"), primary_key=True
    )
    collection_file_id: Mapped[int] = mapped_column(
        ForeignKey("collection_files.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class FileTag(Base):
    """One row per tag of a collection file, so tag filters are plain indexed SQL."""

    __tablename__ = "file_tags"

    collection_file_id: Mapped[int] = mapped_column(
        ForeignKey("collection_files.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(256), primary_key=True, index=True)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("collection_file_id", "seq"),
        Index("ix_chunks_collection", "collection_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_file_id: Mapped[int] = mapped_column(
        ForeignKey("collection_files.id", ondelete="CASCADE")
    )
    collection_id: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    page_start: Mapped[int | None] = mapped_column(Integer)
    page_end: Mapped[int | None] = mapped_column(Integer)
    heading_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    # Media anchors: how the text was obtained (text layer, OCR, speech), the box it was
    # read from, its time range in a recording, the image that shows it (a `file_assets`
    # key), and for timed text each part's offset in `text` with its own start and end,
    # so a search hit can point at the second where the words are spoken.
    source: Mapped[str] = mapped_column(String(16), default="text")
    region: Mapped[list[int] | None] = mapped_column(JSON)
    time_start: Mapped[float | None] = mapped_column(Float)
    time_end: Mapped[float | None] = mapped_column(Float)
    thumbnail: Mapped[str | None] = mapped_column(String(64))
    timeline: Mapped[list[list[float]] | None] = mapped_column(JSON)


class Job(Base):
    """A durable background job; claimed with a lease so a dead worker's jobs are retried."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    collection_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("collection_files.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[float] = mapped_column(Float, default=time.time)
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    # W3C trace context of the span the job was queued under (tracing on), else NULL.
    traceparent: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)


# Identity, access and accounting (mmstack.auth)


class Team(Base):
    """A workspace: collections, files and API keys belong to one."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("team_"))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("user_"))
    username: Mapped[str] = mapped_column(String(128), unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised by a password change, a disable or "log out everywhere": every session of an
    # older generation is refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    totp_secret: Mapped[str | None] = mapped_column(String(255))  # sealed: auth/secret_box.py
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_totp_step: Mapped[int] = mapped_column(BigInteger, default=0)  # no code used twice
    quotas: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: the defaults
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    password_changed_at: Mapped[int | None] = mapped_column(BigInteger)
    # Set when the password was generated or set by someone else (an admin's reset): the
    # console asks the user to choose their own.
    password_change_due: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginThrottle(Base):
    """Failed logins in a row under one user name from one address, and the lock they
    earned. Names that exist and names that do not are counted alike (a lock says nothing
    about which exist), and a lock keeps out only that address: guessing from elsewhere
    cannot lock the account's owner out."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)  # "": not known
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[float] = mapped_column(Float, index=True)


class RecoveryCode(Base):
    """A one-time code that stands in for a TOTP code; stored as its sha256."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class LoginSession(Base):
    """A login: its refresh token (stored hashed, replaced at each refresh) and whether it
    still stands. Access tokens name their session, so revoking it ends them too."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("sess_"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(64))


class ApiKey(Base):
    """A Bearer key for the API, shown once and stored as its sha256. It acts for its user
    with at most that user's rights, narrowed by its own scopes."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(String(64))
    access: Mapped[str] = mapped_column(String(8))  # "read" or "write"
    endpoints: Mapped[list[str] | None] = mapped_column(JSON)  # None: every endpoint group
    collections: Mapped[list[str] | None] = mapped_column(JSON)  # None: every collection
    quotas: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: its user's
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class AuditEvent(Base):
    """Who did what, when, from where, with what result. Append-only: the database refuses
    updates and deletes (triggers made by the migrations), except the deletion of events
    older than `audit_retention.cutoff` (see `AuditRetention`)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, default=time.time)
    action: Mapped[str] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(16))  # success, failure, denied
    actor_id: Mapped[str | None] = mapped_column(String(64), index=True)  # a user id
    key_id: Mapped[str | None] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(256))
    address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditRetention(Base):
    """One row: the cutoff below which audit events may be deleted. 0 (none) except inside
    a retention run's transaction; the database refuses one within the last day
    (migration 0011)."""

    __tablename__ = "audit_retention"
    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_retention_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cutoff: Mapped[float] = mapped_column(Float, default=0.0)


class Usage(Base):
    """What a user (through a key, or not) used of a model on one UTC day."""

    __tablename__ = "usage"
    __table_args__ = (Index("ix_usage_key", "day", "key_id"),)

    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # days since the epoch
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" for a login
    model: Mapped[str] = mapped_column(String(256), primary_key=True)  # "" for uploads
    requests: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageLatency(Base):
    """How many of a day's requests (of a user, key and model) took each span of time:
    `bucket` indexes `mmstack.store.usage_report.LATENCY_BOUNDS`. Percentiles are read
    from these counts, as Prometheus reads a histogram."""

    __tablename__ = "usage_latency"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class SearchUsage(Base):
    """How often a query (normalized: lower case, spaces collapsed) was searched on a UTC
    day by a user of a team, in a mode, how many of those found nothing, the results and
    seconds they took in all, and the results opened: top and zero-result queries and
    click-through are read from these."""

    __tablename__ = "search_usage"
    __table_args__ = (Index("ix_search_usage_team", "team_id", "day"),)

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(String(512), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)
    zero_results: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Results opened from the console's result list: every one, the searches that had one
    # opened at least, and the sum of their ranks (1 = first), for click-through.
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    clicked_searches: Mapped[int] = mapped_column(Integer, default=0)
    click_rank_sum: Mapped[int] = mapped_column(BigInteger, default=0)


class StoredResponse(Base):
    """A Responses API response kept (`store`) for retrieval and for the next turn of its
    conversation (`previous_response_id`), until `expires_at`."""

    __tablename__ = "stored_responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    previous_response_id: Mapped[str | None] = mapped_column(String(64))
    # The chat messages this response adds to its conversation: its input, then its answer.
    turns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the response object, as returned
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class Conversation(Base):
    """A person's chat with their team's documents, kept for them (and, when `shared`,
    readable by their team)."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("conv_"))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(256), default="")
    collection_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


class ConversationMessage(Base):
    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # user or assistant
    content: Mapped[str] = mapped_column(Text)
    # An answer's citations, as the chat API's annotations carry them.
    annotations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class ApiConversation(Base):
    """A conversation of the OpenAI Conversations API: items (messages, function calls
    and their outputs, file searches) that Responses read as context and add to. A
    team's, like stored responses; the console's own conversations are `Conversation`."""

    __tablename__ = "api_conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("conv_"))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    # `metadata` is taken by SQLAlchemy's declarative base.
    pairs: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, index=True)


class ApiConversationItem(Base):
    """One item of an `ApiConversation`, as the API returns it; `seq` keeps their order
    (items added together share a second)."""

    __tablename__ = "api_conversation_items"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("api_conversations.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class Agent(Base):
    """A stored agent: instructions, a model, tools and vector stores, called by name (as
    the Responses API's model `agent/<name>`). A team's; names are unique in a team."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("agent_"))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(256))  # None: the default model
    # Responses API tools (function, mcp, file_search), as a request gives them.
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    vector_store_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    memory: Mapped[bool] = mapped_column(Boolean, default=False)  # the memory tool
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


class Memory(Base):
    """Something a person told the models about themselves (a fact or a preference),
    theirs alone: no one else, not their team's admin, reads it. A memory replaced by a
    newer one is kept (`replaced_by`) as its history."""

    __tablename__ = "memories"

    # The order memories were made in (two in one second are still in order).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: new_id("mem_"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # fact or preference
    source: Mapped[str] = mapped_column(String(64), default="")  # "manual", a response's id
    replaced_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


class MemorySetting(Base):
    """Whether a person's memories are made and recalled (on unless they turn it off)."""

    __tablename__ = "memory_settings"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)
