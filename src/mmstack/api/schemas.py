"""Request and response bodies of the native API (`/api/...`)."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic.config import JsonDict

from mmstack.index.search import Anchor, SearchHit
from mmstack.ingest.parsers.pdf_pages import PageImage
from mmstack.json_numbers import JsonInt
from mmstack.knowledge.collections import CollectionInfo
from mmstack.knowledge.labels import LABEL_PATTERN, MAX_TAG_LENGTH
from mmstack.media_types import Modality
from mmstack.store.models import Chunk, CollectionFile, Conversation, ConversationMessage, Job
from mmstack.urls import thumbnail_url

T = TypeVar("T")

# The largest integer every JSON reader holds exactly (JavaScript's MAX_SAFE_INTEGER), well
# inside the database's integer columns: a number past it is an invalid request, not a
# query the database refuses.
MAX_JSON_INT = 2**53 - 1
# Request bodies take JSON's types as they are: `false` or "1" is not a number.
STRICT = ConfigDict(strict=True)
# An enum in a strict body, given by its value (strict alone wants an enum instance).
BY_VALUE = Strict(False)
# What `check_label` accepts, stated for clients (the service checks it, with a plainer
# message than a pattern's).
LABEL: JsonDict = {"pattern": LABEL_PATTERN}
TAG: JsonDict = {"maxLength": MAX_TAG_LENGTH, **LABEL}
# Text with something in it besides spaces (a search).
NOT_BLANK: JsonDict = {"pattern": r"\S"}


class Identified(BaseModel):
    id: str


class CollectionCreate(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=256, json_schema_extra=LABEL)
    description: str | None = Field(None, max_length=4096)


class CollectionUpdate(BaseModel):
    """A rename: the name (the same or a new one), and a description when given."""

    model_config = STRICT

    name: str = Field(min_length=1, max_length=256, json_schema_extra=LABEL)
    description: str | None = Field(None, max_length=4096, description="Empty: none")


class FileCountsOut(BaseModel):
    """The native API's file counts: `failed` includes the cancelled files."""

    queued: int
    in_progress: int
    completed: int
    failed: int
    total: int


class CollectionOut(Identified):
    object: Literal["collection"] = "collection"
    name: str
    description: str | None
    created_at: int
    file_counts: FileCountsOut
    chunk_count: int

    @classmethod
    def of(cls, info: CollectionInfo) -> CollectionOut:
        c, counts = info.collection, info.file_counts
        return cls(
            id=c.id,
            name=c.name,
            description=c.description,
            created_at=c.created_at,
            file_counts=FileCountsOut(
                queued=counts.queued,
                in_progress=counts.in_progress,
                completed=counts.completed,
                failed=counts.failed_or_cancelled,
                total=counts.total,
            ),
            chunk_count=info.chunk_count,
        )


class FileOut(Identified):
    object: Literal["collection.file"] = "collection.file"
    collection_id: str
    filename: str
    media_type: str
    bytes: int
    sha256: str
    status: str
    progress: float
    last_error: str | None
    chunk_count: int
    page_count: int | None = Field(None, description="Pages of a document, once ingested")
    duration_seconds: float | None = Field(None, description="Length of a recording")
    thumbnail_url: str | None = Field(None, description="A preview image, once ingested")
    tags: list[str]
    created_at: int
    updated_at: int
    duplicate: bool = False

    @classmethod
    def of(cls, member: CollectionFile, *, duplicate: bool = False) -> FileOut:
        stored = member.file
        info = stored.media_info or {}
        return cls(
            id=member.file_id,
            collection_id=member.collection_id,
            filename=stored.filename,
            media_type=stored.media_type,
            bytes=stored.size_bytes,
            sha256=stored.sha256,
            status=member.status,
            progress=member.progress,
            last_error=member.last_error,
            chunk_count=member.chunk_count,
            page_count=info.get("page_count"),
            duration_seconds=info.get("duration"),
            thumbnail_url=thumbnail_url(stored.id, stored.thumbnail),
            tags=list(member.tags),
            created_at=member.created_at,
            updated_at=member.updated_at,
            duplicate=duplicate,
        )


class PageOut(BaseModel):
    object: Literal["file.page"] = "file.page"
    page: int
    page_count: int
    width: int = Field(description="Pixels of the picture")
    height: int
    image: str = Field(description="The page as a data: URL (PNG)")
    boxes: list[tuple[float, float, float, float]] = Field(
        description="Lines holding the quote: left, top, right, bottom as fractions of the page"
    )

    @classmethod
    def of(cls, number: int, page: PageImage) -> PageOut:
        encoded = base64.b64encode(page.png).decode("ascii")
        return cls(
            page=number,
            page_count=page.page_count,
            width=page.width,
            height=page.height,
            image=f"data:image/png;base64,{encoded}",
            boxes=page.boxes,
        )


class JobOut(BaseModel):
    id: int
    object: Literal["job"] = "job"
    kind: str
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    collection_file_id: int | None
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls.model_validate(job, from_attributes=True)


class ListOut(BaseModel, Generic[T]):
    """Every list either API returns. A paged list (OpenAI's) says whether more follow
    (`has_more`; the SDK asks for them with `after=last_id`); a whole list has none."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False

    @model_validator(mode="after")
    def _cursors(self) -> Self:
        """The ids of the first and last items, when they are identified by strings."""
        if self.data and isinstance(self.data[0], Identified):
            self.first_id = self.data[0].id
        if self.data and isinstance(self.data[-1], Identified):
            self.last_id = self.data[-1].id
        return self


class SearchFilters(BaseModel):
    model_config = STRICT

    file_ids: list[str] | None = None
    media_types: list[str] | None = None
    modalities: list[Annotated[Modality, BY_VALUE]] | None = Field(
        None, description="Files of these kinds: text (documents), image, audio, video"
    )
    tags: list[str] | None = Field(None, description="Files having any of these tags")
    created_after: JsonInt | None = Field(
        None, ge=-MAX_JSON_INT, le=MAX_JSON_INT, description="Unix seconds, inclusive"
    )
    created_before: JsonInt | None = Field(
        None, ge=-MAX_JSON_INT, le=MAX_JSON_INT, description="Unix seconds, exclusive"
    )


class SearchRequest(BaseModel):
    model_config = STRICT

    query: str = Field(min_length=1, max_length=8192, json_schema_extra=NOT_BLANK)
    collections: list[str] | None = Field(None, description="Collection ids or names")
    mode: Literal["hybrid", "keyword", "vector"] | None = None
    top_k: JsonInt | None = Field(None, ge=1, le=100)
    filters: SearchFilters | None = None


class SearchClickRequest(BaseModel):
    """A result opened from the results of a search (the console sends it): counted for
    the query's click-through in the search analytics."""

    model_config = STRICT

    query: str = Field(min_length=1, max_length=8192, json_schema_extra=NOT_BLANK)
    mode: Literal["hybrid", "keyword", "vector"] = Field(description="The search's, as answered")
    rank: JsonInt = Field(ge=1, le=100, description="The result's place in the list, 1 = first")
    first: bool = Field(description="Whether it is the first result opened from this list")


class AnchorOut(BaseModel):
    page_start: int | None
    page_end: int | None
    heading_path: list[str]
    char_start: int
    char_end: int
    source: str = Field(description="How the text was got: text, ocr, speech or caption")
    region: list[int] | None = Field(
        None, description="Box the text was read from: left, top, right, bottom pixels"
    )
    time_start: float | None = Field(None, description="Seconds from the start (audio, video)")
    time_end: float | None = None

    @classmethod
    def of(cls, anchor: Anchor) -> AnchorOut:
        return cls(
            page_start=anchor.page_start,
            page_end=anchor.page_end,
            heading_path=anchor.heading_path,
            char_start=anchor.char_start,
            char_end=anchor.char_end,
            source=anchor.source,
            region=list(anchor.region) if anchor.region else None,
            time_start=anchor.time_start,
            time_end=anchor.time_end,
        )


class PassageOut(BaseModel):
    """A passage a file was indexed as, where it is, and (recordings) the seconds of each
    of its parts."""

    object: Literal["file.passage"] = "file.passage"
    seq: int
    text: str
    anchor: AnchorOut
    thumbnail_url: str | None = None
    timeline: list[tuple[int, float, float]] = Field(
        default_factory=list,
        description="Parts of the text: offset in `text`, start and end seconds",
    )

    @classmethod
    def of(cls, chunk: Chunk) -> PassageOut:
        anchor = Anchor.of_row(chunk)
        return cls(
            seq=chunk.seq,
            text=chunk.text,
            anchor=AnchorOut.of(anchor),
            thumbnail_url=thumbnail_url(chunk.file_id, anchor.thumbnail),
            timeline=[(o, float(a), float(b)) for o, a, b in anchor.timeline],
        )


class SearchResultOut(BaseModel):
    chunk_id: int
    score: float
    text: str
    collection_id: str
    file_id: str
    filename: str
    media_type: str
    modality: Modality
    anchor: AnchorOut
    start_seconds: float | None = Field(
        None, description="Where a player should seek: the part of the chunk that best matches"
    )
    end_seconds: float | None = None
    thumbnail_url: str | None = Field(
        None, description="An image showing where the text is (frame, page, picture)"
    )
    ranks: dict[str, int]

    @classmethod
    def of(cls, hit: SearchHit) -> SearchResultOut:
        a = hit.anchor
        return cls(
            chunk_id=hit.chunk_id,
            score=hit.score,
            text=hit.text,
            collection_id=hit.collection_id,
            file_id=hit.file_id,
            filename=hit.filename,
            media_type=hit.media_type,
            anchor=AnchorOut.of(a),
            modality=hit.modality,
            start_seconds=hit.moment[0] if hit.moment else None,
            end_seconds=hit.moment[1] if hit.moment else None,
            thumbnail_url=thumbnail_url(hit.file_id, a.thumbnail),
            ranks=hit.ranks,
        )


class SearchResponse(BaseModel):
    object: Literal["search.results"] = "search.results"
    query: str
    mode: str
    data: list[SearchResultOut]


class ConversationCreate(BaseModel):
    model_config = STRICT

    title: str = Field("", max_length=256, description="Empty: named after the first question")
    collections: list[str] = Field(
        default_factory=list, max_length=100, description="Collection ids or names to ask"
    )


class ConversationUpdate(BaseModel):
    model_config = STRICT

    title: str | None = Field(None, max_length=256)
    shared: bool | None = Field(None, description="Readable by the whole team")
    collections: list[str] | None = Field(None, max_length=100)


class QuestionIn(BaseModel):
    model_config = STRICT

    content: str = Field(min_length=1, max_length=8192, json_schema_extra=NOT_BLANK)
    model: str | None = Field(None, description="Chat model (default: the answer model)")


class MessageOut(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    annotations: list[dict[str, Any]]
    created_at: int

    @classmethod
    def of(cls, message: ConversationMessage) -> MessageOut:
        return cls.model_validate(message, from_attributes=True)


class ConversationOut(Identified):
    object: Literal["conversation"] = "conversation"
    title: str
    collection_ids: list[str]
    shared: bool
    user_id: str = Field(description="Who started it (only they can add to it)")
    created_at: int
    updated_at: int
    messages: list[MessageOut] | None = Field(
        None, description="The messages, oldest first (only when one conversation is read)"
    )

    @classmethod
    def of(
        cls, conversation: Conversation, messages: list[ConversationMessage] | None = None
    ) -> ConversationOut:
        return cls(
            id=conversation.id,
            title=conversation.title,
            collection_ids=list(conversation.collection_ids),
            shared=conversation.shared,
            user_id=conversation.user_id,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
            messages=[MessageOut.of(m) for m in messages] if messages is not None else None,
        )
