"""The Conversations API's requests and objects."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mmstack.api.routes.openai.schemas.common import Metadata
from mmstack.api.routes.openai.schemas.responses import InputItem
from mmstack.api.schemas import Identified
from mmstack.llm.api_conversations import ConversationInfo

# The most items one request may add, as OpenAI allows.
MAX_NEW_ITEMS = 20


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    items: list[InputItem] = Field(default_factory=list, max_length=MAX_NEW_ITEMS)
    metadata: Metadata | None = None


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    metadata: Metadata | None


class ConversationItemsCreate(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    items: list[InputItem] = Field(min_length=1, max_length=MAX_NEW_ITEMS)


class ConversationOut(Identified):
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]

    @classmethod
    def of(cls, info: ConversationInfo) -> ConversationOut:
        return cls(id=info.id, created_at=info.created_at, metadata=info.metadata)


class ConversationItemOut(Identified):
    """An item as the Responses API writes it: a `message`, `function_call`,
    `function_call_output` or `file_search_call`, with that type's fields."""

    model_config = ConfigDict(extra="allow")

    type: str
