"""A stored agent as a Responses request: its model, its instructions before the
request's, its tools (and a file_search over its vector stores) with the request's; and
an agent's tools checked as a request's would be, before they are kept."""

from __future__ import annotations

from typing import Any

from mmstack.api.routes.openai.responses_request import mcp_tools, retrieval_scope
from mmstack.api.routes.openai.schemas.responses import ResponsesRequest
from mmstack.config.settings import Settings
from mmstack.errors import InvalidRequestError
from mmstack.llm.agents import AgentInfo, AgentSpec


def agent_tools(spec: AgentSpec) -> list[dict[str, Any]]:
    tools = list(spec.tools)
    if spec.vector_store_ids:
        tools.append({"type": "file_search", "vector_store_ids": list(spec.vector_store_ids)})
    if spec.memory:
        tools.append({"type": "memory"})
    return tools


def check_agent(spec: AgentSpec, settings: Settings) -> None:
    """A 400 for tools a request could not give: an unknown kind, a malformed one, a mix
    the Responses API refuses, an MCP server off the allow-list."""
    if spec.vector_store_ids and any(tool.get("type") == "file_search" for tool in spec.tools):
        raise InvalidRequestError(
            "give the agent's vector stores in vector_store_ids or as a file_search tool, not both",
            param="vector_store_ids",
        )
    fields = {
        "model": spec.model or settings.llm.default_model,
        "input": "",
        "tools": agent_tools(spec),
    }
    body = ResponsesRequest.model_validate(fields)
    retrieval_scope(body)
    mcp_tools(body, settings.tools.mcp_servers)


def with_agent(body: ResponsesRequest, agent: AgentInfo, default_model: str) -> ResponsesRequest:
    """The request as the agent makes it."""
    spec = agent.spec
    instructions = "\n\n".join(text for text in (spec.instructions, body.instructions) if text)
    return body.model_copy(
        update={
            "model": spec.model or default_model,
            "instructions": instructions or None,
            "tools": [*agent_tools(spec), *body.tools],
        }
    )
