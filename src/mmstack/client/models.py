# Longer than 400 lines: generated from the OpenAPI document by
# scripts/generate_clients.py (datamodel-code-generator); do not edit by hand.

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class AgentCreate(BaseModel):
    description: str | None = Field("", max_length=4096, title="Description")
    instructions: str | None = Field("", max_length=65536, title="Instructions")
    model: str | None = Field(
        None, description="A chat model or alias; default: the default", title="Model"
    )
    tools: list[dict[str, Any]] | None = Field(
        None,
        description="Responses API tools (function, mcp, file_search), as a request gives them",
        title="Tools",
    )
    vector_store_ids: list[str] | None = Field(
        None,
        description="Answered from with file_search",
        max_length=16,
        title="Vector Store Ids",
    )
    memory: bool | None = Field(
        False, description="Recall and note the caller's memories", title="Memory"
    )
    name: str = Field(..., description="Called as the model `agent/<name>`", title="Name")


class AgentOut(BaseModel):
    id: str = Field(..., title="Id")
    object: str | None = Field("agent", title="Object")
    name: str = Field(..., title="Name")
    model_name: str = Field(
        ..., description="What the Responses API's `model` calls it", title="Model Name"
    )
    description: str = Field(..., title="Description")
    instructions: str = Field(..., title="Instructions")
    model: str | None = Field(..., title="Model")
    tools: list[dict[str, Any]] = Field(..., title="Tools")
    vector_store_ids: list[str] = Field(..., title="Vector Store Ids")
    memory: bool = Field(..., title="Memory")
    created_at: int = Field(..., title="Created At")
    updated_at: int = Field(..., title="Updated At")


class AgentUpdate(BaseModel):
    """
    The agent as it is to be: every field given replaces the old (a missing one is
    its default), `name` renames.
    """

    description: str | None = Field("", max_length=4096, title="Description")
    instructions: str | None = Field("", max_length=65536, title="Instructions")
    model: str | None = Field(
        None, description="A chat model or alias; default: the default", title="Model"
    )
    tools: list[dict[str, Any]] | None = Field(
        None,
        description="Responses API tools (function, mcp, file_search), as a request gives them",
        title="Tools",
    )
    vector_store_ids: list[str] | None = Field(
        None,
        description="Answered from with file_search",
        max_length=16,
        title="Vector Store Ids",
    )
    memory: bool | None = Field(
        False, description="Recall and note the caller's memories", title="Memory"
    )
    name: str | None = Field(None, title="Name")


class AnchorOut(BaseModel):
    page_start: int | None = Field(..., title="Page Start")
    page_end: int | None = Field(..., title="Page End")
    heading_path: list[str] = Field(..., title="Heading Path")
    char_start: int = Field(..., title="Char Start")
    char_end: int = Field(..., title="Char End")
    source: str = Field(
        ...,
        description="How the text was got: text, ocr, speech or caption",
        title="Source",
    )
    region: list[int] | None = Field(
        None,
        description="Box the text was read from: left, top, right, bottom pixels",
        title="Region",
    )
    time_start: float | None = Field(
        None, description="Seconds from the start (audio, video)", title="Time Start"
    )
    time_end: float | None = Field(None, title="Time End")


class AuditEventOut(BaseModel):
    id: int = Field(..., title="Id")
    at: float = Field(..., title="At")
    action: str = Field(..., title="Action")
    result: str = Field(..., title="Result")
    actor_id: str | None = Field(..., title="Actor Id")
    key_id: str | None = Field(..., title="Key Id")
    team_id: str | None = Field(..., title="Team Id")
    target: str | None = Field(..., title="Target")
    address: str | None = Field(..., title="Address")
    request_id: str | None = Field(..., title="Request Id")
    detail: dict[str, Any] = Field(..., title="Detail")


class Tag(RootModel[str]):
    root: str = Field(..., max_length=128)


class Tags(RootModel[list[Tag]]):
    root: list[Tag] = Field(
        ..., description="Tags for every uploaded file", max_length=64, title="Tags"
    )


class FilesPost(BaseModel):
    files: list[str] = Field(..., description="One or more files", min_length=1, title="Files")
    tags: Tags | None = Field(None, description="Tags for every uploaded file", title="Tags")


class Description(RootModel[str]):
    root: str = Field(..., max_length=4096, title="Description")


class CollectionCreate(BaseModel):
    name: str = Field(..., max_length=256, min_length=1, title="Name")
    description: Description | None = Field(None, title="Description")


class Description1(RootModel[str]):
    root: str = Field(..., description="Empty: none", max_length=4096, title="Description")


class CollectionUpdate(BaseModel):
    """
    A rename: the name (the same or a new one), and a description when given.
    """

    name: str = Field(..., max_length=256, min_length=1, title="Name")
    description: Description1 | None = Field(None, description="Empty: none", title="Description")


class Error1(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class Error(BaseModel):
    error: Error1


class FileCountsOut(BaseModel):
    """
    The native API's file counts: `failed` includes the cancelled files.
    """

    queued: int = Field(..., title="Queued")
    in_progress: int = Field(..., title="In Progress")
    completed: int = Field(..., title="Completed")
    failed: int = Field(..., title="Failed")
    total: int = Field(..., title="Total")


class FileOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["collection.file"] = Field("collection.file", title="Object")
    collection_id: str = Field(..., title="Collection Id")
    filename: str = Field(..., title="Filename")
    media_type: str = Field(..., title="Media Type")
    bytes: int = Field(..., title="Bytes")
    sha256: str = Field(..., title="Sha256")
    status: str = Field(..., title="Status")
    progress: float = Field(..., title="Progress")
    last_error: str | None = Field(..., title="Last Error")
    chunk_count: int = Field(..., title="Chunk Count")
    page_count: int | None = Field(
        None, description="Pages of a document, once ingested", title="Page Count"
    )
    duration_seconds: float | None = Field(
        None, description="Length of a recording", title="Duration Seconds"
    )
    thumbnail_url: str | None = Field(
        None, description="A preview image, once ingested", title="Thumbnail Url"
    )
    tags: list[str] = Field(..., title="Tags")
    created_at: int = Field(..., title="Created At")
    updated_at: int = Field(..., title="Updated At")
    duplicate: bool | None = Field(False, title="Duplicate")


class FileStatus(RootModel[Literal["queued", "in_progress", "completed", "failed"]]):
    root: Literal["queued", "in_progress", "completed", "failed"] = Field(..., title="FileStatus")


class IngestionDayOut(BaseModel):
    day: str = Field(..., title="Day")
    files: int = Field(..., title="Files")
    chunks: int = Field(..., title="Chunks")
    failed: int = Field(..., title="Failed")
    median_seconds: float | None = Field(..., title="Median Seconds")


class IngestionStatsOut(BaseModel):
    object: str | None = Field("ingestion_stats", title="Object")
    since: str = Field(..., title="Since")
    until: str = Field(..., title="Until")
    by_status: dict[str, int] = Field(..., title="By Status")
    failures: dict[str, int] = Field(..., title="Failures")
    days: list[IngestionDayOut] = Field(..., title="Days")


class JobOut(BaseModel):
    id: int = Field(..., title="Id")
    object: Literal["job"] = Field("job", title="Object")
    kind: str = Field(..., title="Kind")
    status: str = Field(..., title="Status")
    attempts: int = Field(..., title="Attempts")
    max_attempts: int = Field(..., title="Max Attempts")
    last_error: str | None = Field(..., title="Last Error")
    collection_file_id: int | None = Field(..., title="Collection File Id")
    created_at: int = Field(..., title="Created At")
    updated_at: int = Field(..., title="Updated At")


class JobStatus(RootModel[Literal["queued", "running", "succeeded", "failed"]]):
    root: Literal["queued", "running", "succeeded", "failed"] = Field(..., title="JobStatus")


class Endpoints(
    RootModel[
        list[
            Literal[
                "models",
                "embeddings",
                "chat",
                "responses",
                "audio",
                "files",
                "vector_stores",
                "collections",
                "search",
                "jobs",
                "conversations",
                "agents",
                "memories",
            ]
        ]
    ]
):
    root: list[
        Literal[
            "models",
            "embeddings",
            "chat",
            "responses",
            "audio",
            "files",
            "vector_stores",
            "collections",
            "search",
            "jobs",
            "conversations",
            "agents",
            "memories",
        ]
    ] = Field(
        ...,
        description="Endpoint groups the key may use (default: all)",
        min_length=1,
        title="Endpoints",
    )


class ExpiresInDays(RootModel[int]):
    root: int = Field(..., ge=1, le=3650, title="Expires In Days")


class KeyCreated(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["api_key"] = Field("api_key", title="Object")
    name: str = Field(..., title="Name")
    prefix: str = Field(..., title="Prefix")
    user_id: str = Field(..., title="User Id")
    team_id: str = Field(..., title="Team Id")
    access: str = Field(..., title="Access")
    endpoints: list[str] | None = Field(..., title="Endpoints")
    collections: list[str] | None = Field(..., title="Collections")
    quotas: dict[str, int] | None = Field(..., title="Quotas")
    created_at: int = Field(..., title="Created At")
    expires_at: int | None = Field(..., title="Expires At")
    revoked_at: int | None = Field(..., title="Revoked At")
    last_used_at: int | None = Field(..., title="Last Used At")
    key: str = Field(
        ..., description="The key itself: shown only now, store it safely", title="Key"
    )


class KeyOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["api_key"] = Field("api_key", title="Object")
    name: str = Field(..., title="Name")
    prefix: str = Field(..., title="Prefix")
    user_id: str = Field(..., title="User Id")
    team_id: str = Field(..., title="Team Id")
    access: str = Field(..., title="Access")
    endpoints: list[str] | None = Field(..., title="Endpoints")
    collections: list[str] | None = Field(..., title="Collections")
    quotas: dict[str, int] | None = Field(..., title="Quotas")
    created_at: int = Field(..., title="Created At")
    expires_at: int | None = Field(..., title="Expires At")
    revoked_at: int | None = Field(..., title="Revoked At")
    last_used_at: int | None = Field(..., title="Last Used At")


class ListOutAgentOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[AgentOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutAuditEventOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[AuditEventOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutFileOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[FileOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutJobOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[JobOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutKeyOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[KeyOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class TotpCode(RootModel[str]):
    root: str = Field(..., max_length=16, title="Totp Code")


class RecoveryCode(RootModel[str]):
    root: str = Field(..., max_length=32, title="Recovery Code")


class LoginRequest(BaseModel):
    username: str = Field(..., max_length=128, min_length=1, title="Username")
    password: str = Field(..., max_length=1024, min_length=1, title="Password")
    totp_code: TotpCode | None = Field(None, title="Totp Code")
    recovery_code: RecoveryCode | None = Field(None, title="Recovery Code")


class LogoutRequest(BaseModel):
    everywhere: bool | None = Field(
        False, description="End every login of this user", title="Everywhere"
    )


class MemoriesDeleted(BaseModel):
    deleted: int = Field(..., title="Deleted")


class MemoryChange(BaseModel):
    text: str = Field(..., max_length=2000, min_length=1, title="Text")
    kind: Literal["fact", "preference"] | None = Field(None, title="Kind")


class MemoryIn(BaseModel):
    text: str = Field(..., max_length=2000, min_length=1, title="Text")
    kind: Literal["fact", "preference"] | None = Field("fact", title="Kind")


class MemoryOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["memory"] = Field("memory", title="Object")
    text: str = Field(..., title="Text")
    kind: str = Field(..., title="Kind")
    source: str = Field(..., title="Source")
    replaced_by: str | None = Field(..., title="Replaced By")
    created_at: int = Field(..., title="Created At")
    updated_at: int = Field(..., title="Updated At")
    history: list[MemoryOut] | None = Field(
        None,
        description="Its earlier versions, newest first (when one memory is asked for)",
        title="History",
    )


class MemorySettingsIO(BaseModel):
    enabled: bool = Field(..., title="Enabled")


class MessageOut(BaseModel):
    id: int = Field(..., title="Id")
    role: Literal["user", "assistant"] = Field(..., title="Role")
    content: str = Field(..., title="Content")
    annotations: list[dict[str, Any]] = Field(..., title="Annotations")
    created_at: int = Field(..., title="Created At")


class Box(RootModel[tuple[float, float, float, float]]):
    root: tuple[float, float, float, float] = Field(..., max_length=4, min_length=4)


class PageOut(BaseModel):
    object: Literal["file.page"] = Field("file.page", title="Object")
    page: int = Field(..., title="Page")
    page_count: int = Field(..., title="Page Count")
    width: int = Field(..., description="Pixels of the picture", title="Width")
    height: int = Field(..., title="Height")
    image: str = Field(..., description="The page as a data: URL (PNG)", title="Image")
    boxes: list[Box] = Field(
        ...,
        description="Lines holding the quote: left, top, right, bottom as fractions of the page",
        title="Boxes",
    )


class TimelineItem(RootModel[tuple[int, float, float]]):
    root: tuple[int, float, float] = Field(..., max_length=3, min_length=3)


class PassageOut(BaseModel):
    """
    A passage a file was indexed as, where it is, and (recordings) the seconds of each
    of its parts.
    """

    object: Literal["file.passage"] = Field("file.passage", title="Object")
    seq: int = Field(..., title="Seq")
    text: str = Field(..., title="Text")
    anchor: AnchorOut
    thumbnail_url: str | None = Field(None, title="Thumbnail Url")
    timeline: list[TimelineItem] | None = Field(
        None,
        description="Parts of the text: offset in `text`, start and end seconds",
        title="Timeline",
    )


class PasswordChange(BaseModel):
    current_password: str = Field(..., max_length=1024, min_length=1, title="Current Password")
    new_password: str = Field(..., max_length=1024, min_length=1, title="New Password")


class Password(RootModel[str]):
    root: str = Field(
        ...,
        description="The new password (default: generated, shown once)",
        max_length=1024,
        title="Password",
    )


class PasswordReset(BaseModel):
    password: Password | None = Field(
        None,
        description="The new password (default: generated, shown once)",
        title="Password",
    )


class QueryStatsOut(BaseModel):
    query: str = Field(..., title="Query")
    searches: int = Field(..., title="Searches")
    zero_results: int = Field(..., title="Zero Results")
    users: int = Field(..., title="Users")
    mean_results: float = Field(..., title="Mean Results")
    mean_seconds: float = Field(..., title="Mean Seconds")
    clicks: int = Field(..., title="Clicks")
    click_through: float = Field(..., title="Click Through")
    mean_click_rank: float | None = Field(..., title="Mean Click Rank")


class QuestionIn(BaseModel):
    content: str = Field(..., max_length=8192, min_length=1, title="Content")
    model: str | None = Field(
        None, description="Chat model (default: the answer model)", title="Model"
    )


class RequestsPerMinute(RootModel[int]):
    root: int = Field(..., ge=0, title="Requests Per Minute")


class TokensPerDay(RootModel[int]):
    root: int = Field(..., ge=0, title="Tokens Per Day")


class UploadBytesPerDay(RootModel[int]):
    root: int = Field(..., ge=0, title="Upload Bytes Per Day")


class Quotas(BaseModel):
    """
    Limits (0: none); a limit left out is the configured default.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    requests_per_minute: RequestsPerMinute | None = Field(None, title="Requests Per Minute")
    tokens_per_day: TokensPerDay | None = Field(None, title="Tokens Per Day")
    upload_bytes_per_day: UploadBytesPerDay | None = Field(None, title="Upload Bytes Per Day")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(
        ..., description="Each works once; shown only now", title="Recovery Codes"
    )


class RefreshRequest(BaseModel):
    refresh_token: str = Field(..., max_length=1024, min_length=1, title="Refresh Token")


class SearchClickRequest(BaseModel):
    """
    A result opened from the results of a search (the console sends it): counted for
    the query's click-through in the search analytics.
    """

    query: str = Field(..., max_length=8192, min_length=1, title="Query")
    mode: Literal["hybrid", "keyword", "vector"] = Field(
        ..., description="The search's, as answered", title="Mode"
    )
    rank: int = Field(
        ...,
        description="The result's place in the list, 1 = first",
        ge=1,
        le=100,
        title="Rank",
    )
    first: bool = Field(
        ...,
        description="Whether it is the first result opened from this list",
        title="First",
    )


class CreatedAfter(RootModel[int]):
    root: int = Field(
        ...,
        description="Unix seconds, inclusive",
        ge=-9007199254740991,
        le=9007199254740991,
        title="Created After",
    )


class CreatedBefore(RootModel[int]):
    root: int = Field(
        ...,
        description="Unix seconds, exclusive",
        ge=-9007199254740991,
        le=9007199254740991,
        title="Created Before",
    )


class SearchFilters(BaseModel):
    file_ids: list[str] | None = Field(None, title="File Ids")
    media_types: list[str] | None = Field(None, title="Media Types")
    modalities: list[Literal["text", "image", "audio", "video"]] | None = Field(
        None,
        description="Files of these kinds: text (documents), image, audio, video",
        title="Modalities",
    )
    tags: list[str] | None = Field(None, description="Files having any of these tags", title="Tags")
    created_after: CreatedAfter | None = Field(
        None, description="Unix seconds, inclusive", title="Created After"
    )
    created_before: CreatedBefore | None = Field(
        None, description="Unix seconds, exclusive", title="Created Before"
    )


class SearchResultOut(BaseModel):
    chunk_id: int = Field(..., title="Chunk Id")
    score: float = Field(..., title="Score")
    text: str = Field(..., title="Text")
    collection_id: str = Field(..., title="Collection Id")
    file_id: str = Field(..., title="File Id")
    filename: str = Field(..., title="Filename")
    media_type: str = Field(..., title="Media Type")
    modality: Literal["text", "image", "audio", "video"] = Field(
        ...,
        description="What kind of file: a document, a picture, a recording or a video.",
        title="Modality",
    )
    anchor: AnchorOut
    start_seconds: float | None = Field(
        None,
        description="Where a player should seek: the part of the chunk that best matches",
        title="Start Seconds",
    )
    end_seconds: float | None = Field(None, title="End Seconds")
    thumbnail_url: str | None = Field(
        None,
        description="An image showing where the text is (frame, page, picture)",
        title="Thumbnail Url",
    )
    ranks: dict[str, int] = Field(..., title="Ranks")


class ServerInfo(BaseModel):
    object: Literal["server.info"] = Field("server.info", title="Object")
    version: str = Field(..., title="Version")
    chat_models: list[str] = Field(..., title="Chat Models")
    answer_model: str = Field(..., title="Answer Model")
    max_file_bytes: int = Field(..., title="Max File Bytes")
    max_upload_bytes: int = Field(..., title="Max Upload Bytes")
    access_token_minutes: int = Field(..., title="Access Token Minutes")


class TeamCreate(BaseModel):
    name: str = Field(..., max_length=128, title="Name")


class TeamOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["team"] = Field("team", title="Object")
    name: str = Field(..., title="Name")
    created_at: int = Field(..., title="Created At")


class TokenOut(BaseModel):
    access_token: str = Field(..., title="Access Token")
    token_type: Literal["bearer"] = Field("bearer", title="Token Type")
    expires_at: int = Field(..., title="Expires At")
    refresh_token: str = Field(..., title="Refresh Token")
    session_id: str = Field(..., title="Session Id")
    user_id: str = Field(..., title="User Id")


class TotpCode1(BaseModel):
    code: str = Field(..., max_length=16, min_length=1, title="Code")


class Code(RootModel[str]):
    root: str = Field(..., max_length=16, title="Code")


class TotpDisable(BaseModel):
    password: str = Field(..., max_length=1024, min_length=1, title="Password")
    code: Code | None = Field(None, title="Code")
    recovery_code: RecoveryCode | None = Field(None, title="Recovery Code")


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(..., title="Secret")
    otpauth_uri: str = Field(..., title="Otpauth Uri")
    qr_svg: str = Field(
        ...,
        description="The otpauth URI as a QR code, an SVG data: URI",
        title="Qr Svg",
    )


class UsageSummaryOut(BaseModel):
    """
    One group of a usage summary. `id` names the group (its dimensions' values, joined
    by "/"): the cursor for `after`.
    """

    id: str = Field(..., title="Id")
    day: str | None = Field(..., title="Day")
    user_id: str | None = Field(..., title="User Id")
    username: str | None = Field(..., title="Username")
    key_id: str | None = Field(..., title="Key Id")
    team_id: str | None = Field(..., title="Team Id")
    model: str | None = Field(..., title="Model")
    requests: int = Field(..., title="Requests")
    prompt_tokens: int = Field(..., title="Prompt Tokens")
    completion_tokens: int = Field(..., title="Completion Tokens")
    upload_bytes: int = Field(..., title="Upload Bytes")
    timed_requests: int = Field(
        ...,
        description="The model calls whose time was counted",
        title="Timed Requests",
    )
    latency_p50: float | None = Field(
        ..., description="Seconds, from the request's arrival", title="Latency P50"
    )
    latency_p95: float | None = Field(..., title="Latency P95")
    latency_p99: float | None = Field(..., title="Latency P99")


class Password1(RootModel[str]):
    root: str = Field(
        ...,
        description="Default: generated, returned once",
        max_length=1024,
        title="Password",
    )


class UserCreate(BaseModel):
    username: str = Field(
        ...,
        description="Letters (stored in lower case), digits and . _ @ + -",
        max_length=128,
        title="Username",
    )
    role: Literal["admin", "developer", "operator", "viewer"] | None = Field("viewer", title="Role")
    team: str | None = Field(
        None, description="Team id or name (default: the default team)", title="Team"
    )
    password: Password1 | None = Field(
        None, description="Default: generated, returned once", title="Password"
    )


class UserCreated(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["user"] = Field("user", title="Object")
    username: str = Field(..., title="Username")
    team_id: str = Field(..., title="Team Id")
    role: Literal["admin", "developer", "operator", "viewer"] = Field(..., title="Role")
    permissions: list[str] = Field(..., title="Permissions")
    disabled: bool = Field(..., title="Disabled")
    mfa_enabled: bool = Field(..., title="Mfa Enabled")
    password_change_due: bool = Field(
        ...,
        description="The password was generated or reset by an admin: the user should choose one",
        title="Password Change Due",
    )
    quotas: dict[str, int] | None = Field(..., title="Quotas")
    created_at: int = Field(..., title="Created At")
    password: str | None = Field(
        None, description="The generated password, shown only now", title="Password"
    )


class UserOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["user"] = Field("user", title="Object")
    username: str = Field(..., title="Username")
    team_id: str = Field(..., title="Team Id")
    role: Literal["admin", "developer", "operator", "viewer"] = Field(..., title="Role")
    permissions: list[str] = Field(..., title="Permissions")
    disabled: bool = Field(..., title="Disabled")
    mfa_enabled: bool = Field(..., title="Mfa Enabled")
    password_change_due: bool = Field(
        ...,
        description="The password was generated or reset by an admin: the user should choose one",
        title="Password Change Due",
    )
    quotas: dict[str, int] | None = Field(..., title="Quotas")
    created_at: int = Field(..., title="Created At")


class UserUpdate(BaseModel):
    role: Literal["admin", "developer", "operator", "viewer"] | None = None
    disabled: bool | None = Field(None, title="Disabled")
    quotas: Quotas | None = Field(None, description="Limits of this user; {} for the defaults")


class UsageOut(BaseModel):
    day: str = Field(..., title="Day")
    user_id: str = Field(..., title="User Id")
    key_id: str | None = Field(..., title="Key Id")
    model: str | None = Field(..., title="Model")
    requests: int = Field(..., title="Requests")
    prompt_tokens: int = Field(..., title="Prompt Tokens")
    completion_tokens: int = Field(..., title="Completion Tokens")
    upload_bytes: int = Field(..., title="Upload Bytes")


class ConversationCreate(BaseModel):
    title: str | None = Field(
        "",
        description="Empty: named after the first question",
        max_length=256,
        title="Title",
    )
    collections: list[str] | None = Field(
        None,
        description="Collection ids or names to ask",
        max_length=100,
        title="Collections",
    )


class ConversationOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["conversation"] = Field("conversation", title="Object")
    title: str = Field(..., title="Title")
    collection_ids: list[str] = Field(..., title="Collection Ids")
    shared: bool = Field(..., title="Shared")
    user_id: str = Field(
        ..., description="Who started it (only they can add to it)", title="User Id"
    )
    created_at: int = Field(..., title="Created At")
    updated_at: int = Field(..., title="Updated At")
    messages: list[MessageOut] | None = Field(
        None,
        description="The messages, oldest first (only when one conversation is read)",
        title="Messages",
    )


class Title(RootModel[str]):
    root: str = Field(..., max_length=256, title="Title")


class Collections(RootModel[list[str]]):
    root: list[str] = Field(..., max_length=100, title="Collections")


class ConversationUpdate(BaseModel):
    title: Title | None = Field(None, title="Title")
    shared: bool | None = Field(None, description="Readable by the whole team", title="Shared")
    collections: Collections | None = Field(None, title="Collections")


class TopK(RootModel[int]):
    root: int = Field(..., ge=1, le=100, title="Top K")


class SearchRequest(BaseModel):
    query: str = Field(..., max_length=8192, min_length=1, title="Query")
    collections: list[str] | None = Field(
        None, description="Collection ids or names", title="Collections"
    )
    mode: Literal["hybrid", "keyword", "vector"] | None = Field(None, title="Mode")
    top_k: TopK | None = Field(None, title="Top K")
    filters: SearchFilters | None = None


class CollectionOut(BaseModel):
    id: str = Field(..., title="Id")
    object: Literal["collection"] = Field("collection", title="Object")
    name: str = Field(..., title="Name")
    description: str | None = Field(..., title="Description")
    created_at: int = Field(..., title="Created At")
    file_counts: FileCountsOut
    chunk_count: int = Field(..., title="Chunk Count")


class KeyCreate(BaseModel):
    name: str = Field(..., max_length=128, min_length=1, title="Name")
    access: Literal["read", "write"] | None = Field("write", title="Access")
    endpoints: Endpoints | None = Field(
        None,
        description="Endpoint groups the key may use (default: all)",
        title="Endpoints",
    )
    collections: list[str] | None = Field(
        None,
        description="Collection (vector store) ids the key may use (default: all)",
        title="Collections",
    )
    expires_in_days: ExpiresInDays | None = Field(None, title="Expires In Days")
    user: str | None = Field(None, description="Admins: make the key for this user", title="User")
    quotas: Quotas | None = Field(None, description="Admins: limits of this key")


class ListOutCollectionOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[CollectionOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutConversationOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[ConversationOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutMemoryOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[MemoryOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutPassageOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[PassageOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutQueryStatsOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[QueryStatsOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutTeamOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[TeamOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutUsageOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[UsageOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutUsageSummaryOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[UsageSummaryOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class ListOutUserOut(BaseModel):
    object: Literal["list"] = Field("list", title="Object")
    data: list[UserOut] = Field(..., title="Data")
    first_id: str | None = Field(None, title="First Id")
    last_id: str | None = Field(None, title="Last Id")
    has_more: bool | None = Field(False, title="Has More")


class SearchResponse(BaseModel):
    object: Literal["search.results"] = Field("search.results", title="Object")
    query: str = Field(..., title="Query")
    mode: str = Field(..., title="Mode")
    data: list[SearchResultOut] = Field(..., title="Data")


MemoryOut.model_rebuild()
