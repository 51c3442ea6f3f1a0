from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from mmstack.api.routes.openai.schemas.vector_store_files import TextPart
from mmstack.api.schemas import NOT_BLANK, STRICT
from mmstack.index.attribute_filter import AttributeFilter, Comparison, ComparisonOp, Compound
from mmstack.json_numbers import JsonInt
from mmstack.knowledge.search import MAX_RESULTS, StoreHit
from mmstack.urls import thumbnail_url


class ComparisonFilterIn(BaseModel):
    model_config = STRICT

    type: ComparisonOp
    key: str
    value: str | bool | int | float | list[str | int | float]

    def to_filter(self) -> Comparison:
        return Comparison(self.key, self.type, self.value)


class CompoundFilterIn(BaseModel):
    model_config = STRICT

    type: Literal["and", "or"]
    filters: list[FilterIn] = Field(min_length=1)

    def to_filter(self) -> Compound:
        return Compound(self.type, tuple(f.to_filter() for f in self.filters))


FilterIn = Annotated[ComparisonFilterIn | CompoundFilterIn, Field(discriminator="type")]
CompoundFilterIn.model_rebuild()


class RankingOptionsIn(BaseModel):
    """`ranker` is accepted (mmstack always ranks with its hybrid fusion); results scoring
    below `score_threshold` are dropped."""

    model_config = STRICT

    ranker: str | None = None
    score_threshold: float | None = None


class SearchRequest(BaseModel):
    model_config = STRICT

    query: (
        Annotated[str, Field(json_schema_extra=NOT_BLANK)]
        | Annotated[
            list[str], Field(json_schema_extra={"contains": {"type": "string", **NOT_BLANK}})
        ]
    )
    max_num_results: JsonInt = Field(10, ge=1, le=MAX_RESULTS)
    filters: FilterIn | None = None
    ranking_options: RankingOptionsIn | None = None
    rewrite_query: bool = False  # accepted; queries are searched as given

    def queries(self) -> list[str]:
        return [self.query] if isinstance(self.query, str) else list(self.query)

    def attribute_filter(self) -> AttributeFilter | None:
        return self.filters.to_filter() if self.filters is not None else None


class StoreSearchResultOut(BaseModel):
    """OpenAI's vector store search result (the native API's is `SearchResultOut`)."""

    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any]
    content: list[TextPart]
    # mmstack's own, beside OpenAI's fields: where in the file the text is.
    modality: str = Field("text", description="text, image, audio or video")
    page: int | None = None
    start_seconds: float | None = Field(None, description="Where to seek (audio, video)")
    end_seconds: float | None = None
    thumbnail_url: str | None = None

    @classmethod
    def of(cls, found: StoreHit) -> StoreSearchResultOut:
        hit = found.hit
        return cls(
            file_id=hit.file_id,
            filename=hit.filename,
            score=found.score,
            attributes=found.attributes,
            content=[TextPart(text=hit.text)],
            modality=hit.modality,
            page=hit.anchor.page_start,
            start_seconds=hit.moment[0] if hit.moment else None,
            end_seconds=hit.moment[1] if hit.moment else None,
            thumbnail_url=thumbnail_url(hit.file_id, hit.anchor.thumbnail),
        )


class SearchPage(BaseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[StoreSearchResultOut]
    has_more: bool = False
    next_page: str | None = None
