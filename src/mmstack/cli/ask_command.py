"""`mmstack ask QUESTION`: the command; the answering and printing are `cli/ask.py`'s."""

from __future__ import annotations

from typing import Annotated

import typer

from mmstack.cli.options import JsonOpt, opened_stack
from mmstack.cli.output import fail, print_json
from mmstack.errors import MMStackError


def ask_command(
    question: str,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Answer from these only")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Chat model or alias (default: answer.model, llm.default_model)"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from the ingested files: the answer streams, then its sources."""
    import asyncio

    from mmstack.cli import ask as asking

    with opened_stack() as stack:
        try:
            ids = [stack.collections.resolve_id(c) for c in collection] if collection else None
            answer = asyncio.run(asking.ask(stack, question, ids, model, echo=not json_out))
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json(asking.answer_dict(answer))
    else:
        asking.print_sources(answer)
