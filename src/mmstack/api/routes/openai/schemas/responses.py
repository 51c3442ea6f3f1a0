"""The Responses API's request and the response object, as far as mmstack serves them
(text in, text out, the `file_search` tool, function tools). Unknown request fields are
accepted and ignored, as clients send many."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmstack.api.routes.openai.schemas.common import Metadata
from mmstack.json_numbers import JsonInt


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class InputPart(_Open):
    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class InputItem(_Open):
    """A message, or a function call the model made (`function_call`: `call_id`, `name`,
    `arguments`) and what the client's function returned (`function_call_output`:
    `call_id`, `output`)."""

    type: str = "message"
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[InputPart] | None = Field(default=None, union_mode="left_to_right")
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[InputPart] | None = Field(default=None, union_mode="left_to_right")
    # An `mcp_approval_response`: the answer to an `mcp_approval_request` item.
    approval_request_id: str | None = None
    approve: bool | None = None


class FunctionTool(_Open):
    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FileSearchTool(_Open):
    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1)
    max_num_results: JsonInt | None = Field(None, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: dict[str, Any] | None = None


class McpTool(_Open):
    """A remote MCP server's tools, run by mmstack (`tools.mcp_servers` allows servers)."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["mcp"]
    server_label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    server_url: str | None = None
    server_description: str | None = None
    allowed_tools: list[str] | dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    authorization: str | None = None
    require_approval: Literal["always", "never"] | dict[str, Any] | None = None
    connector_id: str | None = None


class MemoryTool(_Open):
    """mmstack's own tool: the caller's memories are recalled into the answer, and what
    they state about themselves is noted (docs/API.md, Memories)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["memory"]


class ConversationRef(_Open):
    id: str


class ResponsesRequest(_Open):
    model_config = ConfigDict(extra="allow", strict=True)

    model: str
    input: str | list[InputItem] = Field(union_mode="left_to_right")
    instructions: str | None = None
    max_output_tokens: JsonInt | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool = False
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    text: dict[str, Any] | None = None
    metadata: Metadata | None = None
    previous_response_id: str | None = Field(
        None, description="Continue the conversation of this stored response"
    )
    conversation: str | ConversationRef | None = Field(
        None,
        union_mode="left_to_right",
        description="Read this conversation's items as context, then add the input and output",
    )
    store: bool = Field(True, description="Keep the response (llm.stored_response_days)")
    user: str | None = None
    max_tool_calls: JsonInt | None = Field(
        None, ge=1, description="Most calls to mmstack-run (MCP) tools in this response"
    )

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str = ""
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


Status = Literal["in_progress", "completed", "incomplete", "failed"]


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"] = "in_progress"
    role: Literal["assistant"] = "assistant"
    content: list[OutputText] = Field(default_factory=list)


class FileSearchCall(BaseModel):
    type: Literal["file_search_call"] = "file_search_call"
    id: str
    status: Literal["in_progress", "searching", "completed", "failed"] = "in_progress"
    queries: list[str] = Field(default_factory=list)
    results: list[dict[str, Any]] | None = None


class FunctionCallItem(BaseModel):
    """A call the model asks the client to make; its `function_call_output` (same
    `call_id`) continues the conversation."""

    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class McpListToolsItem(BaseModel):
    type: Literal["mcp_list_tools"] = "mcp_list_tools"
    id: str
    server_label: str
    tools: list[dict[str, Any]]
    error: str | None = None


class McpCallItem(BaseModel):
    """A remote MCP tool mmstack called for the model, with what it returned."""

    type: Literal["mcp_call"] = "mcp_call"
    id: str
    server_label: str
    name: str
    arguments: str
    output: str | None = None
    error: dict[str, Any] | None = None
    status: Literal["in_progress", "completed", "failed"] = "completed"
    approval_request_id: str | None = None


class McpApprovalRequestItem(BaseModel):
    """A call the model wants to make that waits for the client's `mcp_approval_response`."""

    type: Literal["mcp_approval_request"] = "mcp_approval_request"
    id: str
    server_label: str
    name: str
    arguments: str


OutputItem = (
    OutputMessage
    | FileSearchCall
    | FunctionCallItem
    | McpListToolsItem
    | McpCallItem
    | McpApprovalRequestItem
)


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails = InputTokensDetails()
    output_tokens: int
    output_tokens_details: OutputTokensDetails = OutputTokensDetails()
    total_tokens: int


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    status: Status = "in_progress"
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    model: str
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    output: list[OutputItem] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    tool_choice: str | dict[str, Any] = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    truncation: Literal["disabled"] = "disabled"
    store: bool = False
    previous_response_id: str | None = None
    conversation: ConversationRef | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    user: str | None = None
    usage: ResponseUsage | None = None
