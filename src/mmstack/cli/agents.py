"""`mmstack agents`: create, list, show, change and delete stored agents (the default
team's; each is called through the Responses API as the model `agent/<name>`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmstack.cli.options import JsonOpt, opened_stack
from mmstack.cli.output import console, fail, print_json, print_table
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.llm.agents import AgentInfo, AgentSpec

agents_app = typer.Typer(
    help="Create, list, show, change and delete stored agents.", no_args_is_help=True
)

DescriptionOpt = Annotated[str, typer.Option(help="What the agent is for")]
InstructionsOpt = Annotated[
    str, typer.Option(help="Its instructions (a system message before each request's)")
]
InstructionsFileOpt = Annotated[
    Path | None, typer.Option(help="A file holding its instructions", exists=True, dir_okay=False)
]
ModelOpt = Annotated[str | None, typer.Option(help="Chat model or alias; default: the default")]
ToolsFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="A JSON file: a list of Responses API tools (function, mcp, file_search)",
        exists=True,
        dir_okay=False,
    ),
]
MemoryOpt = Annotated[
    bool, typer.Option("--memory/--no-memory", help="Recall and note the caller's memories")
]
VectorStoreOpt = Annotated[
    list[str] | None,
    typer.Option("--vector-store", help="A vector store (collection id) to answer from; repeat"),
]


def _spec(
    description: str,
    instructions: str,
    instructions_file: Path | None,
    model: str | None,
    tools_file: Path | None,
    vector_stores: list[str] | None,
    memory: bool,
) -> AgentSpec:
    from mmstack.llm.agents import AgentSpec

    if instructions_file is not None:
        instructions = instructions_file.read_text()
    tools: Any = []
    if tools_file is not None:
        try:
            tools = json.loads(tools_file.read_text())
        except json.JSONDecodeError as exc:
            fail(f"{tools_file}: not JSON ({exc})")
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            fail(f"{tools_file}: give a JSON list of tool objects")
    return AgentSpec(description, instructions, model, tools, list(vector_stores or ()), memory)


def _checked(spec: AgentSpec, settings: Any) -> None:
    from mmstack.api.routes.openai.agent_requests import check_agent

    try:
        check_agent(spec, settings)
    except MMStackError as exc:
        fail(exc.message)


@agents_app.command("create")
def agents_create(
    name: str,
    description: DescriptionOpt = "",
    instructions: InstructionsOpt = "",
    instructions_file: InstructionsFileOpt = None,
    model: ModelOpt = None,
    tools_file: ToolsFileOpt = None,
    vector_store: VectorStoreOpt = None,
    memory: MemoryOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Create an agent; its tools are checked as a Responses request's would be."""
    spec = _spec(
        description, instructions, instructions_file, model, tools_file, vector_store, memory
    )
    with opened_stack() as stack:
        _checked(spec, stack.settings)
        try:
            info = stack.agents.create(name, spec)
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json(_agent_dict(info))
    else:
        console.print(f"created agent [bold]{name}[/bold] ({info.id}): model agent/{name}")


@agents_app.command("update")
def agents_update(
    agent: str,
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
    description: DescriptionOpt = "",
    instructions: InstructionsOpt = "",
    instructions_file: InstructionsFileOpt = None,
    model: ModelOpt = None,
    tools_file: ToolsFileOpt = None,
    vector_store: VectorStoreOpt = None,
    memory: MemoryOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Replace what an agent (by id or name) is made of: what is not given is its default."""
    spec = _spec(
        description, instructions, instructions_file, model, tools_file, vector_store, memory
    )
    with opened_stack() as stack:
        _checked(spec, stack.settings)
        try:
            info = stack.agents.update(agent, name=name, spec=spec)
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json(_agent_dict(info))
    else:
        console.print(f"updated agent [bold]{info.name}[/bold] ({info.id})")


@agents_app.command("list")
def agents_list(json_out: JsonOpt = False) -> None:
    """List the agents."""
    with opened_stack() as stack:
        infos = stack.agents.list()
    if json_out:
        print_json([_agent_dict(i) for i in infos])
        return
    print_table(
        "agents",
        ["id", "name", "model", "tools", "vector stores", "description"],
        [
            (
                i.id,
                i.name,
                i.spec.model or "(default)",
                ", ".join(_tool_label(t) for t in i.spec.tools),
                ", ".join(i.spec.vector_store_ids),
                i.spec.description,
            )
            for i in infos
        ],
    )


@agents_app.command("show")
def agents_show(agent: str) -> None:
    """Show an agent (by id or name), as JSON."""
    with opened_stack() as stack:
        try:
            info = stack.agents.get(agent)
        except MMStackError as exc:
            fail(exc.message)
    print_json(_agent_dict(info))


@agents_app.command("delete")
def agents_delete(
    agent: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False
) -> None:
    """Delete an agent (by id or name)."""
    with opened_stack() as stack:
        try:
            info = stack.agents.get(agent)
        except MMStackError as exc:
            fail(exc.message)
        if not yes and not typer.confirm(f"Delete agent '{info.name}'?"):
            fail("nothing deleted")
        stack.agents.delete(info.id)
    console.print(f"deleted agent [bold]{info.name}[/bold]")


def _tool_label(tool: dict[str, Any]) -> str:
    kind = str(tool.get("type", "?"))
    name = tool.get("name") or tool.get("server_label")
    return f"{kind}:{name}" if name else kind


def _agent_dict(info: AgentInfo) -> dict[str, Any]:
    from mmstack.api.agent_schemas import AgentOut

    return AgentOut.of(info).model_dump(mode="json")
