"""Settings, from (highest first) explicit overrides, `MMSTACK_*` environment variables,
an optional TOML file (`--config` or `MMSTACK_CONFIG_FILE`), then the defaults below.

Nested groups are set from the environment with a double underscore, for example
`MMSTACK_SEARCH__RRF_K=60`. Settings are never persisted in the database.
"""

# Longer than 400 lines: the whole configuration schema, one small class per section, in one
# module so that it reads top to bottom as the reference docs/CONFIGURATION.md follows.

from __future__ import annotations

import ipaddress
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mmstack"


class EmbeddingSettings(BaseModel):
    model: str = "all-minilm-l6-v2-int8"
    max_tokens: int = Field(512, ge=16, le=512, description="Tokens per text the encoder sees")
    batch_size: int = Field(8, ge=1, le=1024)
    threads: int | None = Field(None, ge=1, description="onnxruntime threads (default: cores)")
    query_model: Literal["same", "dynamic-int8"] = Field(
        "dynamic-int8",
        description="Queries embedded by the model itself, or by a dynamically quantized copy "
        "(about twice as fast; documents keep the model's own vectors)",
    )


class ChunkingSettings(BaseModel):
    max_tokens: int = Field(512, ge=32, le=8192)
    overlap_tokens: int = Field(64, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError("chunking.overlap_tokens must be less than half of max_tokens")
        return self


class SearchSettings(BaseModel):
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"
    fusion: Literal["zscore", "minmax", "rrf"] = "zscore"
    rrf_k: int = Field(60, ge=1)
    # Chosen leave-one-collection-out (`python -m bench.fusion_folds`): 0.4 / 0.6 was the
    # choice on the other collections in five of six folds, and with all of them in.
    keyword_weight: float = Field(0.4, ge=0)
    vector_weight: float = Field(0.6, ge=0)
    candidates: int = Field(200, ge=1, le=1000, description="Hits taken from each side")
    top_k: int = Field(10, ge=1, le=1000)
    keyword_postings: bool = Field(
        True,
        description="SQLite: rank keyword queries from term postings kept in memory (the "
        "same BM25 scores; up to about 64 MB); off, FTS5 scores every match of every query",
    )
    record_queries: bool = Field(
        True,
        description="Count each API search per day, user and normalized query for the "
        "search analytics (`mmstack stats`, GET /api/stats/search); off, nothing is kept",
    )


class IngestSettings(BaseModel):
    max_file_bytes: int = Field(100 * 1024 * 1024, ge=1)
    workers: int = Field(1, ge=0, description="In-process job workers (0: none)")
    batch_files: int = Field(
        64, ge=1, le=1024, description="Files a worker takes at once and embeds in one pass"
    )
    max_attempts: int = Field(5, ge=1)
    retry_base_seconds: float = Field(2.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    isolate_parsers: bool = Field(
        True,
        description="Parse documents (text, HTML, Markdown, CSV, JSON, DOCX) and decode PDF, "
        "pictures, audio and video in a child process with the time and memory budgets "
        "below, killed past them (OCR and speech-to-text read what it decodes, in the worker)",
    )
    parse_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Time one file's parsing and decoding may take (OCR and speech-to-text "
        "not counted), plus parse_seconds_per_mib for each MiB of the file",
    )
    parse_seconds_per_mib: float = Field(
        10.0,
        ge=0,
        description="Time added to parse_timeout_seconds for each MiB of a file: a tiny "
        "hostile file is stopped within a minute, a 100 MiB recording has 17 minutes to decode",
    )
    parse_memory_bytes: int = Field(
        2 * 1024**3,
        ge=256 * 1024**2,
        description="The parsing and decoding process's address space",
    )


class MediaSettings(BaseModel):
    """Images, scanned pages, audio and video: the models that read them (each loaded on
    the first file that needs it) and the limits on what is decoded."""

    ocr: bool = Field(True, description="Read text in images, scanned pages and video frames")
    ocr_model: str = "pp-ocrv6-small"
    ocr_threads: int | None = Field(None, ge=1, description="OCR threads (default: all cores)")
    speech_to_text: bool = Field(True, description="Transcribe audio and the sound of videos")
    speech_model: str = "whisper-base"
    speech_threads: int | None = Field(None, ge=1, description="Whisper threads (default: all)")
    speech_beam_size: int = Field(
        5, ge=1, le=10, description="Whisper beam width (1: greedy decoding)"
    )
    max_image_pixels: int = Field(
        64_000_000,
        ge=1,
        description="Largest image decoded (width x height): image bombs fail. At 64 MP, 20 "
        "uploads of the costliest picture at once keep the server near 1.3 GB "
        "(bench/hostile_uploads.py)",
    )
    duplicate_image_distance: int = Field(
        4,
        ge=-1,
        le=64,
        description="Pictures whose perceptual hashes differ in at most this many of 64 bits "
        "are one file in a collection (-1: only identical bytes)",
    )
    caption_url: str | None = Field(
        None,
        description="OpenAI-compatible server (its /v1 URL) with a vision model that captions "
        "pictures; the captions are searchable. None: no captions",
    )
    caption_model: str | None = Field(None, description="The vision model's id on that server")
    caption_api_key: SecretStr | None = None
    caption_prompt: str | None = Field(None, description="Instruction sent with each picture")
    caption_timeout: float = Field(60.0, gt=0, description="Seconds to wait for one caption")

    clip_model_dir: Path | None = Field(
        None,
        description="Directory with a CLIP-style model (visual.onnx, textual.onnx, "
        "tokenizer.json, optional preprocess.json): pictures become findable by what they show",
    )
    clip_hub_id: str | None = Field(
        None, description="Or a Hugging Face Hub repository with those files (needs network)"
    )
    clip_threads: int | None = Field(None, ge=1)
    clip_weight: float = Field(
        0.5, ge=0, description="Weight of picture matches in hybrid fusion (text sides: 0.5)"
    )

    @model_validator(mode="after")
    def _caption_model_named(self) -> MediaSettings:
        if self.caption_url and not self.caption_model:
            raise ValueError("media.caption_url needs media.caption_model (the vision model)")
        if self.clip_model_dir and self.clip_hub_id:
            raise ValueError("set media.clip_model_dir or media.clip_hub_id, not both")
        return self


class VectorSettings(BaseModel):
    backend: Literal["edge", "qdrant"] = "edge"
    qdrant_url: str | None = None
    qdrant_api_key: str | None = Field(None, repr=False)
    qdrant_collection: str = "mmstack_chunks"
    hnsw_ef: int = Field(128, ge=8, le=4096, description="HNSW search breadth (edge)")
    optimize_after: int = Field(
        20_000,
        ge=0,
        description="Build the HNSW graph when this many vectors are unindexed and ingestion "
        "is idle (edge; 0: never)",
    )


class BlobSettings(BaseModel):
    backend: Literal["local", "s3"] = Field(
        "local",
        description="Where uploaded files and derived images live: 'local' (DATA_DIR/blobs) or "
        "'s3' (any S3-compatible object store, for API and worker processes on several hosts)",
    )
    bucket: str | None = Field(None, description="The bucket (s3)")
    create_bucket: bool = Field(
        False, description="Create the bucket at start when it is missing (s3; else an error)"
    )
    prefix: str = Field("", description="Key prefix inside the bucket, e.g. 'mmstack/' (s3)")
    endpoint_url: str | None = Field(
        None, description="The store's URL, e.g. http://minio:9000 (s3; unset: AWS)"
    )
    region: str = "us-east-1"
    access_key_id: str | None = Field(
        None, description="Unset: the SDK's own chain (environment, instance role)"
    )
    secret_access_key: SecretStr | None = None
    cache_bytes: int = Field(
        2 * 1024**3,
        ge=0,
        description="Local copies of blobs kept for decoders that read files (s3), at most",
    )
    multipart_chunk_bytes: int = Field(
        8 * 1024**2,
        ge=5 * 1024**2,
        description="Part size of multipart uploads and ranged downloads (s3)",
    )

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> BlobSettings:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("blobs.backend 's3' needs blobs.bucket")
        return self


class EmbeddedLlmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    models: list[str] = Field(
        default_factory=lambda: ["qwen2.5-1.5b-instruct-q4km"],
        description="Catalog ids of the GGUF chat models served in-process (loaded on first use)",
    )
    context_size: int = Field(8192, ge=256, description="Context window per request, in tokens")
    # Two: a short request (an answer's second look, another user's question) is read
    # while a long answer is being written, instead of waiting for its end.
    parallel: int = Field(2, ge=1, le=64, description="Requests generated at once per model")
    threads: int | None = Field(None, ge=1, description="llama.cpp threads (default: cores)")
    batch_size: int = Field(512, ge=32, description="Prompt tokens evaluated per step")
    max_tool_tokens: int = Field(
        1024,
        ge=0,
        description="Tokens a request's tool schemas may take (a client's built-in tools can "
        "take thousands, minutes of prompt reading on a CPU); over it, `tool_overflow` decides",
    )
    tool_overflow: Literal["refuse", "drop"] = Field(
        "refuse",
        description="A request whose tools are over `max_tool_tokens`: 'refuse' answers 400 "
        "`tools_too_large`, 'drop' answers it without its tools",
    )


class UpstreamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    api_key: SecretStr | None = None
    api_key_file: Path | None = Field(None, description="A file holding the API key")
    models: list[str] = Field(min_length=1, description="Model ids this upstream serves")
    context_window: int | None = Field(None, ge=1, description="Tokens, when known")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(120.0, gt=0, description="Longest wait for the next bytes")
    max_retries: int = Field(2, ge=0, le=10)
    retry_backoff_seconds: float = Field(0.5, ge=0, description="First delay; doubles per retry")

    @model_validator(mode="after")
    def _key_from_file(self) -> UpstreamSettings:
        if self.api_key is None and self.api_key_file is not None:
            self.api_key = SecretStr(read_secret_file(self.api_key_file))
        return self


class LlmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_model: str = "qwen2.5-1.5b-instruct-q4km"
    embedded: EmbeddedLlmSettings = EmbeddedLlmSettings()
    upstreams: list[UpstreamSettings] = Field(default_factory=list)
    aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="Alias -> model ids, tried in this order"
    )
    stored_response_days: int = Field(
        30,
        ge=0,
        description="Days a Responses API response is kept (`store`) for retrieval and "
        "`previous_response_id`; 0 keeps none",
    )
    list_chat_models_only: bool = Field(
        False,
        description="`GET /v1/models` lists the chat models alone (for clients that offer "
        "every model listed as a chat model)",
    )

    @model_validator(mode="after")
    def _names_are_unique(self) -> LlmSettings:
        names = [upstream.name for upstream in self.upstreams]
        if len(names) != len(set(names)):
            raise ValueError("llm.upstreams: every upstream needs a unique name")
        for alias, targets in self.aliases.items():
            if not targets:
                raise ValueError(f"llm.aliases.{alias}: list at least one model id")
        return self


class AnswerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None, description="Chat model or alias for grounded answers (default: llm.default_model)"
    )
    top_k: int = Field(4, ge=1, le=50, description="Passages retrieved for a question")
    max_prompt_tokens: int = Field(
        2048, ge=256, description="Largest prompt, passages included, in the model's tokens"
    )
    max_answer_tokens: int = Field(256, ge=16, description="Tokens the answer may use")
    temperature: float = Field(0.0, ge=0, le=2)
    answerability_check: bool = Field(
        True, description="Ask the model whether the passages hold the answer before answering"
    )
    # Chosen on the handbook's development questions (`bench/qa`), a threshold-0 run scored
    # under each rule (`bench.handbook_qa --rescore`): the mean of both looks at 0.55 had the
    # best accuracy plus refusal accuracy there (0.70 + 0.92; the check alone at best 0.80 +
    # 0.68).
    answerability_threshold: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Lowest probability of 'yes' (the mean of both looks, with the second "
        "look on) that lets the answer go out",
    )
    answerability_confirm: bool = Field(
        True,
        description="Ask again, about the passage text the answer's first fact stands on, "
        "and go on when the mean of both probabilities of 'yes' reaches the threshold",
    )
    max_in_flight: int = Field(
        16,
        ge=0,
        description="Grounded answers in progress at once; another is refused with 429 and "
        "Retry-After (0: no limit)",
    )
    verify: bool = Field(True, description="Check every answer sentence against its passage")
    min_lexical_support: float = Field(
        0.6, ge=0, le=1, description="Share of a sentence's content words its passage must hold"
    )
    min_semantic_support: float = Field(
        0.7, ge=-1, le=1, description="Cosine similarity to a passage sentence that supports"
    )


class KnowledgeModelSettings(BaseModel):
    """A knowledge model an administrator names: a model id clients pick that answers from
    some collections, with its own chat model and instructions."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^\S+$")
    collections: list[str] = Field(
        min_length=1,
        description="Collections (names or ids) it answers from, looked up in the caller's "
        "team; listed only to callers who may read every one",
    )
    model: str | None = Field(None, description="Chat model or alias that answers")
    filters: dict[str, Any] | None = Field(
        None,
        description="Only files whose attributes match (OpenAI's comparison and compound "
        'filters, e.g. {"type": "eq", "key": "year", "value": 2026})',
    )
    instructions: str | None = Field(
        None, max_length=4000, description="Added to the answer's system prompt"
    )
    description: str | None = Field(None, max_length=1000)


class KnowledgeSettings(BaseModel):
    """Knowledge models: grounded answers behind a model id, for clients that speak only
    chat completions (Open WebUI, LibreChat, n8n, editor plugins)."""

    model_config = ConfigDict(extra="forbid")

    collection_models: bool = Field(
        True, description="List a knowledge model for every collection the caller may read"
    )
    prefix: str = Field(
        "kb/", min_length=1, max_length=32, description="What a collection's model id starts with"
    )
    models: list[KnowledgeModelSettings] = Field(default_factory=list)
    housekeeping_markers: list[str] = Field(
        ["### Task:", "<chat_history>"],
        description="Text that marks a client's own background request (a chat title, tags, "
        "follow-up suggestions, search queries); such a request to a knowledge model is "
        "answered by its chat model without documents",
    )
    source_list: bool = Field(
        True,
        description="End a knowledge model's answer with its sources, as a list with links, "
        "for clients that show no annotations",
    )
    open_webui_sources: bool = Field(
        False,
        description="Streamed knowledge answers carry Open WebUI's source events (the "
        "quote, the file, the page or second) instead of `url_citation`s",
    )
    citation_link_minutes: int = Field(
        60,
        ge=0,
        le=7 * 24 * 60,
        description="How long a citation's link (`url_citation`) opens the cited place "
        "without logging in; 0: no links",
    )

    @model_validator(mode="after")
    def _ids_are_unique(self) -> KnowledgeSettings:
        ids = [model.id for model in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError("knowledge.models: every knowledge model needs a unique id")
        return self


class HttpSettings(BaseModel):
    """What the HTTP server accepts from a client, and whose proxy headers it believes."""

    model_config = ConfigDict(extra="forbid")

    access_log: bool = Field(
        False,
        description="Log every request (method, route, status, user and key ids, time); "
        "requests that fail (4xx, 5xx) are logged either way",
    )
    trusted_proxies: list[str] = Field(
        [],
        description="Addresses or networks (CIDR) of the reverse proxies in front of the "
        "server: only their X-Forwarded-For and X-Forwarded-Proto are believed. Empty: none "
        "(the client address is the connection's)",
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Largest request body other than a file upload (JSON requests)",
    )
    max_upload_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Largest multipart request (file uploads); never less than "
        "ingest.max_file_bytes plus 1 MiB",
    )
    body_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="A request whose body sends nothing for this long is answered 408",
    )
    upload_reads: int = Field(
        2,
        ge=1,
        description="Uploaded files read into memory at once (each up to "
        "ingest.max_file_bytes); further uploads wait their turn",
    )
    transcriptions_at_once: int = Field(
        1,
        ge=1,
        description="/v1/audio/transcriptions requests decoded and transcribed at once (each a "
        "parser helper and Whisper's working memory); further requests wait their turn",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value


class AuthSettings(BaseModel):
    """Logins, sessions and the first administrator."""

    model_config = ConfigDict(extra="forbid")

    token_secret: SecretStr | None = Field(
        None,
        description="Key that signs access tokens; default: generated once into "
        "DATA_DIR/secrets/token-signing.key (every API replica needs the same key)",
    )
    data_key: SecretStr | None = Field(
        None,
        description="Key that encrypts TOTP secrets in the database; default: generated once "
        "into DATA_DIR/secrets/data-encryption.key (every API replica needs the same key; "
        "with another key, users with two-factor authentication log in with a recovery code "
        "and enrol again)",
    )
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(14, ge=1, le=365)
    password_min_length: int = Field(12, ge=8, le=128)
    lockout_threshold: int = Field(5, ge=1, description="Failed logins in a row before a lock")
    lockout_base_seconds: float = Field(
        30.0, gt=0, description="First lock; each further failure doubles it"
    )
    lockout_max_seconds: float = Field(900.0, gt=0)
    login_attempts_per_minute: int = Field(
        30, ge=0, description="Logins and refreshes per minute from one address (0: no limit)"
    )
    initial_admin_username: str = Field("admin", min_length=1, max_length=128)
    initial_admin_password: SecretStr | None = Field(
        None, description="Password of the first administrator (default: generated, shown once)"
    )
    initial_admin_password_file: Path | None = Field(
        None, description="File holding that password (a container secret, for example)"
    )
    totp_issuer: str = Field("mmstack", description="Issuer shown by authenticator apps")
    service_key: SecretStr | None = Field(
        None,
        description="An API key (mmk_...) made at start for the service user, for the "
        "services a deployment wires to mmstack (Open WebUI, n8n); a new value revokes the old",
    )
    service_username: str = Field("service", min_length=1, max_length=128)


class MetricsSettings(BaseModel):
    """`/metrics` (Prometheus): who may read it. Never public: with a token, only requests
    bearing it; without one, only clients on this host (a local Prometheus)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Record request metrics and serve /metrics")
    token: SecretStr | None = Field(
        None, description="Bearer token a scraper must send (the stack file's metrics-token)"
    )
    worker_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="`mmstack worker` serves its own /metrics on this port (at `host`; a "
        "host other than loopback needs the token)",
    )


class TelemetrySettings(BaseModel):
    """OpenTelemetry export (OTLP over HTTP, protobuf), each part off until its endpoint
    is set."""

    logs_endpoint: str | None = Field(
        None,
        description="URL that receives every log record by OTLP, e.g. Loki's "
        "http://loki:3100/otlp/v1/logs (the JSON lines on stderr stay)",
    )
    traces_endpoint: str | None = Field(
        None,
        description="URL that receives spans (HTTP requests, searches, model calls, "
        "ingestion jobs) by OTLP, e.g. http://tempo:4318/v1/traces",
    )
    service_name: str = Field("mmstack", min_length=1, description="The service.name resource")


class ToolSettings(BaseModel):
    """Tools mmstack runs itself for the Responses API (remote MCP servers), in a loop
    bounded in steps and time."""

    model_config = ConfigDict(extra="forbid")

    mcp_servers: list[str] = Field(
        default_factory=list,
        description="Remote MCP server URLs a Responses `mcp` tool may name (exactly, up to a "
        "trailing slash); any other is refused. Empty: none",
    )
    max_steps: int = Field(
        8, ge=1, le=100, description="Model calls per response while tools are being called"
    )
    max_seconds: float = Field(
        120.0, gt=0, description="Time a response's tool loop may take before it stops"
    )
    call_timeout_seconds: float = Field(
        30.0, gt=0, description="Time one MCP server may take to connect, list or run a tool"
    )

    @field_validator("mcp_servers")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"tools.mcp_servers: '{url}' is not an http(s) URL")
        return urls


class MemorySettings(BaseModel):
    """People's long-term memories, for the Responses requests that use the `memory` tool
    (and the agents made with memory on)."""

    model_config = ConfigDict(extra="forbid")

    recall_count: int = Field(
        5, ge=0, le=50, description="Memories recalled into a response: the closest to its input"
    )
    extract: bool = Field(
        True, description="Have the model note what the user states about themselves"
    )


class RetentionSettings(BaseModel):
    """How long each kind of data is kept, in days (0: for ever). `mmstack retention apply`
    deletes what is older, and job workers apply it every `interval_hours`; every deletion
    is recorded in the audit log."""

    model_config = ConfigDict(extra="forbid")

    files_days: int = Field(
        0, ge=0, description="Uploaded files, with their chunks, vectors and bytes, by upload time"
    )
    unattached_files_days: int = Field(
        0,
        ge=0,
        description="Files uploaded through the Files API that no collection uses, by upload time",
    )
    conversations_days: int = Field(0, ge=0, description="Conversations, by their last message")
    audit_days: int = Field(365, ge=0, description="Audit log events")
    usage_days: int = Field(400, ge=0, description="Daily usage counters")
    jobs_days: int = Field(30, ge=0, description="Finished (succeeded or failed) job records")
    interval_hours: float = Field(
        24.0, ge=0, description="How often job workers apply the policy (0: only by command)"
    )


class BackupSettings(BaseModel):
    """Where `mmstack backup` keeps its snapshots: a restic repository, and how many it keeps."""

    model_config = ConfigDict(extra="forbid")

    repository: str | None = Field(
        None,
        description="A restic repository: a directory, or s3:<endpoint>/<bucket>[/prefix]; "
        "default: the directory `<DATA_DIR>-backups` beside the data directory",
    )
    password: SecretStr | None = Field(
        None,
        description="The repository's encryption password; default: generated at the first "
        "backup into DATA_DIR/secrets/backup-password (keep a copy elsewhere)",
    )
    s3_access_key_id: str | None = Field(None, description="Credentials of an s3: repository")
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    interval_hours: float = Field(
        0.0,
        ge=0,
        description="Job workers take a backup this often, then rotate (0: only by command)",
    )
    keep_last: int = Field(3, ge=1, description="Rotation: the newest backups always kept")
    keep_daily: int = Field(7, ge=0, description="Rotation: the newest backup of each of N days")
    keep_weekly: int = Field(4, ge=0, description="Rotation: the newest of each of N weeks")
    keep_monthly: int = Field(6, ge=0, description="Rotation: the newest of each of N months")
    restic: str = Field("restic", description="The restic program (a name on PATH, or a path)")


class QuotaSettings(BaseModel):
    """Limits every user and every key gets unless an administrator sets its own (0: no
    limit). Counters live in this process, or in Redis when `redis_url` is set."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int = Field(600, ge=0)
    upload_requests_per_minute: int = Field(
        6000,
        ge=0,
        description="File uploads (POST /v1/files, POST /api/collections/{c}/files) per "
        "minute, counted apart from requests_per_minute: an SDK's bulk upload sends one "
        "request per file",
    )
    tokens_per_day: int = Field(0, ge=0, description="Prompt and completion tokens, UTC day")
    upload_bytes_per_day: int = Field(0, ge=0)
    redis_url: str | None = Field(None, description="e.g. redis://127.0.0.1:6379/0")
    redis_password: SecretStr | None = Field(None, description="Put into redis_url")

    @property
    def redis_address(self) -> str | None:
        """`redis_url` with the password in it."""
        if self.redis_url is None or self.redis_password is None:
            return self.redis_url
        return make_url_with_password(self.redis_url, self.redis_password.get_secret_value())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MMSTACK_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite at DATA_DIR/mmstack.db"
    )
    database_password: SecretStr | None = Field(
        None, description="Put into database_url (kept out of the URL, e.g. in a secret file)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="Log lines: 'console' readable, 'json' one object per line, 'auto' readable "
        "at a terminal and JSON otherwise",
    )

    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    search: SearchSettings = SearchSettings()
    ingest: IngestSettings = IngestSettings()
    media: MediaSettings = MediaSettings()
    vector: VectorSettings = VectorSettings()
    blobs: BlobSettings = BlobSettings()
    llm: LlmSettings = LlmSettings()
    tools: ToolSettings = ToolSettings()
    memory: MemorySettings = MemorySettings()
    answer: AnswerSettings = AnswerSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    http: HttpSettings = HttpSettings()
    auth: AuthSettings = AuthSettings()
    quotas: QuotaSettings = QuotaSettings()
    metrics: MetricsSettings = MetricsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    retention: RetentionSettings = RetentionSettings()
    backup: BackupSettings = BackupSettings()

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.data_dir / 'mmstack.db'}"
        if self.database_password is None:
            return url
        return make_url_with_password(url, self.database_password.get_secret_value())

    @property
    def models_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            WithoutSecretFiles(env_settings),
            SecretFileSettingsSource(settings_cls),
        ]
        config_file = _config_file.get() or os.environ.get("MMSTACK_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


_config_file: ContextVar[str | None] = ContextVar("mmstack_config_file", default=None)


def read_secret_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None


def make_url_with_password(url: str, password: str) -> str:
    """`url` (a database or Redis URL) with `password` as its password (a URL without a
    user name gets none: `redis://:secret@host:6379/0`)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class SecretFileSettingsSource(PydanticBaseSettingsSource):
    """`MMSTACK_<SETTING>_FILE=/run/secrets/x` sets the setting to the file's contents, as
    container images do for secrets: the value never sits in the environment. A variable
    set directly wins over its `_FILE` form."""

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, path in os.environ.items():
            if not name.startswith("MMSTACK_") or not name.endswith("_FILE"):
                continue
            parts = name.removeprefix("MMSTACK_").removesuffix("_FILE").lower().split("__")
            if (
                not _is_setting(self.settings_cls, parts)
                or name.removesuffix("_FILE") in os.environ
            ):
                continue
            target = values
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = read_secret_file(Path(path))
        return values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ gives every value


class WithoutSecretFiles(PydanticBaseSettingsSource):
    """The environment source, less the `_FILE` variables `SecretFileSettingsSource` reads
    (to the environment source they would be unknown settings)."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self._inner = inner

    def __call__(self) -> dict[str, Any]:
        return _drop_file_keys(self._inner(), self.settings_cls)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)


def _drop_file_keys(values: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in values.items():
        stem = key.removesuffix("_file")
        if key != stem and key not in model.model_fields and stem in model.model_fields:
            continue
        field = model.model_fields.get(key)
        nested = field.annotation if field is not None else None
        if isinstance(value, dict) and isinstance(nested, type) and issubclass(nested, BaseModel):
            value = _drop_file_keys(value, nested)
        kept[key] = value
    return kept


def _is_setting(model: type[BaseModel], parts: list[str]) -> bool:
    """Whether the path names a setting (a field of nested settings groups)."""
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1:
        return True
    nested = field.annotation
    return (
        isinstance(nested, type)
        and issubclass(nested, BaseModel)
        and _is_setting(nested, parts[1:])
    )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings for this process. `overrides` (CLI flags) win over everything else."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    if (env_file := os.environ.get("MMSTACK_CONFIG_FILE")) and not Path(env_file).is_file():
        raise FileNotFoundError(f"config file not found: {env_file} (from MMSTACK_CONFIG_FILE)")
    token = _config_file.set(str(config_file) if config_file else None)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _config_file.reset(token)
