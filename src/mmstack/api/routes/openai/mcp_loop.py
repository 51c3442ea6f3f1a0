"""The tool loop of a response with `mcp` tools: mmstack lists each server's tools, offers
them to the model with the client's function tools, runs the calls the model makes (those
that need no approval) and asks again with their results, until the model answers, calls
a client function, waits for an approval, or reaches the step, call or time limit. Each
step is an output item, produced as it finishes (for the event stream)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from mmstack.api.routes.openai.answer_source import AnswerSource
from mmstack.api.routes.openai.responses_output import ResponseBuilder, annotations_of
from mmstack.api.routes.openai.responses_request import chat_tool_call
from mmstack.api.routes.openai.schemas.responses import (
    InputItem,
    McpApprovalRequestItem,
    McpCallItem,
    McpListToolsItem,
    McpTool,
    OutputItem,
    ResponseObject,
)
from mmstack.config.settings import ToolSettings
from mmstack.errors import InvalidRequestError
from mmstack.llm.types import ChatCompletionRequest, ToolCall, Usage
from mmstack.tools.remote_mcp import CallOutcome, RemoteMcp, RemoteTool, connect

DECLINED = "The user declined this call; it was not made."


@dataclass(frozen=True, slots=True)
class Approval:
    """The client's answer to an `mcp_approval_request` (the item as it was sent)."""

    request: dict[str, Any]
    approve: bool


@dataclass(frozen=True, slots=True)
class _Offered:
    server: McpTool
    remote: RemoteMcp
    tool: RemoteTool


def approvals_in(items: Sequence[InputItem], earlier: Sequence[dict[str, Any]]) -> list[Approval]:
    """The input's `mcp_approval_response` items, each with the request it answers (from
    `earlier`: the previous response's output, or the conversation's items)."""
    requests = {
        item.get("id"): item for item in earlier if item.get("type") == "mcp_approval_request"
    }
    found = []
    for n, item in enumerate(items):
        if item.type != "mcp_approval_response":
            continue
        request = requests.get(item.approval_request_id)
        if request is None:
            raise InvalidRequestError(
                f"input[{n}]: no mcp_approval_request '{item.approval_request_id}' in the "
                "previous response or the conversation",
                param=f"input[{n}].approval_request_id",
            )
        found.append(Approval(request, bool(item.approve)))
    return found


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _tool_names(rule: Any) -> set[str]:
    names = rule.get("tool_names") if isinstance(rule, dict) else None
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


def _allowed(server: McpTool, tool: RemoteTool) -> bool:
    allowed = server.allowed_tools
    if allowed is None:
        return True
    return tool.name in (set(allowed) if isinstance(allowed, list) else _tool_names(allowed))


def needs_approval(server: McpTool, name: str) -> bool:
    """OpenAI's rule: approval is asked for unless `require_approval` is `never`, or names
    the tool under `never` (a name under `always` always asks)."""
    rule = server.require_approval
    if rule == "never":
        return False
    if isinstance(rule, dict):
        if name in _tool_names(rule.get("always")):
            return True
        return name not in _tool_names(rule.get("never"))
    return True


def _listing(server: McpTool, tools: Sequence[RemoteTool]) -> McpListToolsItem:
    listed = [
        {
            "name": tool.name,
            "description": tool.description,
            "input_schema": tool.input_schema,
            "annotations": tool.annotations,
        }
        for tool in tools
    ]
    return McpListToolsItem(id=_new_id("mcpl"), server_label=server.server_label, tools=listed)


def _as_chat_tool(tool: RemoteTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


class McpLoop:
    def __init__(
        self,
        *,
        source: AnswerSource,
        builder: ResponseBuilder,
        settings: ToolSettings,
        max_tool_calls: int | None,
    ) -> None:
        self._source = source
        self._builder = builder
        self._settings = settings
        self._max_calls = max_tool_calls
        self._usage = Usage()
        self._calls_made = 0
        self.output: list[OutputItem] = []
        # The chat messages this response adds to its conversation after its input.
        self.turns: list[dict[str, Any]] = []
        self.result: ResponseObject | None = None

    async def run(
        self, chat: ChatCompletionRequest, servers: Sequence[McpTool], approvals: Sequence[Approval]
    ) -> AsyncIterator[OutputItem]:
        """Each output item as it is done; `result` holds the response at the end."""
        async with AsyncExitStack() as open_servers:
            offered: dict[str, _Offered] = {}
            functions = {tool["function"]["name"] for tool in chat.tools or ()}
            for server in servers:
                assert server.server_url is not None  # checked with the allow-list
                headers = dict(server.headers or {})
                if server.authorization:
                    headers["Authorization"] = f"Bearer {server.authorization}"
                remote = await open_servers.enter_async_context(
                    connect(
                        server.server_label,
                        server.server_url,
                        headers=headers,
                        timeout=self._settings.call_timeout_seconds,
                    )
                )
                tools = [tool for tool in await remote.tools() if _allowed(server, tool)]
                for tool in tools:
                    if tool.name in offered or tool.name in functions:
                        raise InvalidRequestError(
                            f"two tools are named '{tool.name}' (server "
                            f"'{server.server_label}' offers one): give each a distinct name, "
                            "or leave one out with allowed_tools",
                            param="tools",
                        )
                    offered[tool.name] = _Offered(server, remote, tool)
                yield self._add(_listing(server, tools))
            for approval in approvals:
                async for item in self._answer_approval(approval, offered):
                    yield item
            async for item in self._steps(chat, offered):
                yield item

    def _add(self, item: OutputItem) -> OutputItem:
        self.output.append(item)
        return item

    async def _answer_approval(
        self, approval: Approval, offered: dict[str, _Offered]
    ) -> AsyncIterator[OutputItem]:
        request = approval.request
        name, arguments = str(request.get("name", "")), str(request.get("arguments", ""))
        if not approval.approve:
            call_id = str(request["id"])
            self.turns += [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [chat_tool_call(call_id, name, arguments)],
                },
                {"role": "tool", "tool_call_id": call_id, "content": DECLINED},
            ]
            return
        item = await self._call(offered.get(name), name, arguments, approval_id=str(request["id"]))
        self._record([item])
        yield self._add(item)

    async def _call(
        self, target: _Offered | None, name: str, arguments: str, *, approval_id: str | None = None
    ) -> McpCallItem:
        if target is None:
            outcome = CallOutcome(
                None,
                {"type": "mcp_protocol_error", "code": -32602, "message": f"no tool '{name}' here"},
            )
            label = ""
        else:
            outcome = await target.remote.call(name, arguments)
            label = target.server.server_label
        self._calls_made += 1
        return McpCallItem(
            id=_new_id("mcp"),
            server_label=label,
            name=name,
            arguments=arguments,
            output=outcome.output,
            error=outcome.error,
            status="failed" if outcome.error else "completed",
            approval_request_id=approval_id,
        )

    def _record(self, calls: Sequence[McpCallItem], text: str | None = None) -> None:
        """The calls made, and what they gave, as chat messages."""
        tool_calls = [chat_tool_call(call.id, call.name, call.arguments) for call in calls]
        self.turns.append({"role": "assistant", "content": text or None, "tool_calls": tool_calls})
        for call in calls:
            result = call.output if call.error is None else f"The tool failed: {call.error}"
            self.turns.append({"role": "tool", "tool_call_id": call.id, "content": result or ""})

    async def _steps(
        self, chat: ChatCompletionRequest, offered: dict[str, _Offered]
    ) -> AsyncIterator[OutputItem]:
        fields = chat.model_dump(exclude_none=True)
        fields.update(
            stream=False,
            tools=[*(chat.tools or ()), *map(_as_chat_tool, (o.tool for o in offered.values()))],
        )
        fields.pop("stream_options", None)
        if not fields["tools"]:
            fields.pop("tools")
            fields.pop("tool_choice", None)
        deadline = time.monotonic() + self._settings.max_seconds
        for _ in range(self._settings.max_steps):
            if time.monotonic() > deadline:
                break
            step = ChatCompletionRequest.model_validate(
                {**fields, "messages": [*fields["messages"], *self.turns]}
            )
            completion = await self._source.complete(step)
            self._count(completion.usage)
            choice = completion.choices[0] if completion.choices else None
            text = (choice.message.content or "") if choice else ""
            calls = (choice.message.tool_calls or []) if choice else []
            finish = choice.finish_reason if choice else None
            if not calls:
                annotations = annotations_of(choice.message.model_extra) if choice else []
                yield self._add(self._builder.message(text, annotations, finish))
                self.turns.append({"role": "assistant", "content": text})
                self._finish(finish)
                return
            mine = [call for call in calls if _name(call) in offered]
            theirs = [call for call in calls if _name(call) not in offered]
            waiting = [c for c in mine if needs_approval(offered[_name(c)].server, _name(c))]
            made: list[McpCallItem] = []
            for call in (c for c in mine if c not in waiting):
                if self._max_calls is not None and self._calls_made >= self._max_calls:
                    break
                made.append(await self._call(offered[_name(call)], _name(call), _arguments(call)))
                yield self._add(made[-1])
            if made:
                self._record(made, text)
            if theirs or waiting:
                for call in theirs:
                    yield self._add(
                        self._builder.function_call(call.id, _name(call), _arguments(call))
                    )
                for call in waiting:
                    target = offered[_name(call)]
                    yield self._add(
                        McpApprovalRequestItem(
                            id=_new_id("mcpr"),
                            server_label=target.server.server_label,
                            name=_name(call),
                            arguments=_arguments(call),
                        )
                    )
                self._finish(finish)
                return
            if len(made) < len(mine):  # max_tool_calls reached
                break
        self._finish("max_tool_calls")

    def _count(self, usage: Usage | None) -> None:
        if usage is None:
            return
        self._usage = Usage(
            prompt_tokens=self._usage.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + usage.completion_tokens,
            total_tokens=self._usage.total_tokens + usage.total_tokens,
        )

    def _finish(self, finish: str | None) -> None:
        self.result = self._builder.response(
            "completed", list(self.output), usage=self._usage, finish_reason=finish
        )


def _name(call: ToolCall) -> str:
    return (call.function.name if call.function else None) or ""


def _arguments(call: ToolCall) -> str:
    return (call.function.arguments if call.function else None) or ""
