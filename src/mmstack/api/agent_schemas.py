"""The native API's shapes for stored agents."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mmstack.api.schemas import STRICT, Identified
from mmstack.llm.agents import AGENT_MODEL_PREFIX, AGENT_NAME, AgentInfo, AgentSpec


class AgentFields(BaseModel):
    model_config = STRICT

    description: str = Field("", max_length=4096)
    instructions: str = Field("", max_length=65_536)
    model: str | None = Field(None, description="A chat model or alias; default: the default")
    tools: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Responses API tools (function, mcp, file_search), as a request gives them",
    )
    vector_store_ids: list[str] = Field(
        default_factory=list, description="Answered from with file_search", max_length=16
    )
    memory: bool = Field(False, description="Recall and note the caller's memories")

    def spec(self) -> AgentSpec:
        return AgentSpec(
            self.description,
            self.instructions,
            self.model,
            self.tools,
            self.vector_store_ids,
            self.memory,
        )


class AgentCreate(AgentFields):
    name: str = Field(pattern=AGENT_NAME, description="Called as the model `agent/<name>`")


class AgentUpdate(AgentFields):
    """The agent as it is to be: every field given replaces the old (a missing one is
    its default), `name` renames."""

    name: str | None = Field(None, pattern=AGENT_NAME)


class AgentOut(Identified):
    object: str = "agent"
    name: str
    model_name: str = Field(description="What the Responses API's `model` calls it")
    description: str
    instructions: str
    model: str | None
    tools: list[dict[str, Any]]
    vector_store_ids: list[str]
    memory: bool
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, info: AgentInfo) -> AgentOut:
        spec = info.spec
        return cls(
            id=info.id,
            name=info.name,
            model_name=f"{AGENT_MODEL_PREFIX}{info.name}",
            description=spec.description,
            instructions=spec.instructions,
            model=spec.model,
            tools=spec.tools,
            vector_store_ids=spec.vector_store_ids,
            memory=spec.memory,
            created_at=info.created_at,
            updated_at=info.updated_at,
        )
