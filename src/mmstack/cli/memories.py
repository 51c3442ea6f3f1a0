"""`mmstack memories`: one's own memories from the command line, for the user of an API
key (--api-key or MMSTACK_API_KEY), as `/api/memories` serves them: nobody reads another's
memories here either, however they run the command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmstack.cli.options import JsonOpt, opened_stack
from mmstack.cli.output import console, fail, print_json, print_table
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.llm.memories import MemoryInfo, MemoryService

memories_app = typer.Typer(
    help="List, add, change, delete and export your memories; turn memory on or off.",
    no_args_is_help=True,
)

ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        envvar="MMSTACK_API_KEY",
        help="Your API key: the memories are its user's",
        show_default=False,
    ),
]
KindOpt = Annotated[str, typer.Option(help="fact or preference")]


@contextmanager
def _mine(api_key: str | None) -> Iterator[MemoryService]:
    if not api_key:
        fail("an API key is needed: --api-key or MMSTACK_API_KEY (mmstack keys create)")
    with opened_stack(make_first_admin=False) as stack:
        try:
            principal = stack.auth.authenticate(f"Bearer {api_key}")
            yield stack.memories.for_user(principal.user_id)
        except MMStackError as exc:
            fail(exc.message)


@memories_app.command("list")
def memories_list(
    api_key: ApiKeyOpt = None,
    search: Annotated[str | None, typer.Option(help="Only those whose text holds it")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Your current memories, the most recently changed first."""
    with _mine(api_key) as memories:
        found = memories.current(containing=search)
    if json_out:
        print_json([_memory_dict(m) for m in found])
        return
    print_table("memories", ["id", "kind", "text"], [(m.id, m.kind, m.text) for m in found])


@memories_app.command("add")
def memories_add(text: str, api_key: ApiKeyOpt = None, kind: KindOpt = "fact") -> None:
    """Remember TEXT."""
    with _mine(api_key) as memories:
        made = memories.add(text, kind)
    console.print(f"remembered ({made.id})")


@memories_app.command("change")
def memories_change(memory_id: str, text: str, api_key: ApiKeyOpt = None) -> None:
    """Change a memory: the new text replaces it, the old one is kept as its history."""
    with _mine(api_key) as memories:
        made = memories.replace(memory_id, text)
    console.print(f"changed: {made.id} replaces {memory_id}")


@memories_app.command("delete")
def memories_delete(
    memory_id: Annotated[str | None, typer.Argument(help="One memory; none: every one")] = None,
    api_key: ApiKeyOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Delete a memory with its history, or (with no id) every memory."""
    with _mine(api_key) as memories:
        if memory_id is not None:
            gone = memories.delete(memory_id)
        else:
            if not yes and not typer.confirm("Delete every memory you have?"):
                fail("nothing deleted")
            gone = memories.delete_everything()
    console.print(f"deleted {gone} {'memory' if gone == 1 else 'memories'} (versions included)")


@memories_app.command("export")
def memories_export(
    api_key: ApiKeyOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead")] = None,
) -> None:
    """Everything kept (each memory and earlier version) and whether memory is on, as JSON."""
    import json

    with _mine(api_key) as memories:
        exported = memories.export()
    if out is None:
        print_json(exported)
    else:
        out.write_text(json.dumps(exported, indent=2) + "\n")
        console.print(f"wrote {len(exported['memories'])} memories to {out}")


@memories_app.command("off")
def memories_off(api_key: ApiKeyOpt = None) -> None:
    """Remember nothing new and recall nothing (what is kept stays)."""
    with _mine(api_key) as memories:
        memories.set_enabled(False)
    console.print("memory is off")


@memories_app.command("on")
def memories_on(api_key: ApiKeyOpt = None) -> None:
    with _mine(api_key) as memories:
        memories.set_enabled(True)
    console.print("memory is on")


def _memory_dict(memory: MemoryInfo) -> dict[str, object]:
    return {"id": memory.id, "kind": memory.kind, "text": memory.text, "source": memory.source}
