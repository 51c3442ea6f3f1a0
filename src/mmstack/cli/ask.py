"""`mmstack ask`: a grounded answer streamed to the terminal, then its sources."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from mmstack.answer import Answer, AnswerDone, Citation, TextDelta
from mmstack.cli.output import console
from mmstack.stack import Stack


async def ask(
    stack: Stack,
    question: str,
    collection_ids: Sequence[str] | None,
    model: str | None,
    *,
    echo: bool,
) -> Answer:
    """The answer; with `echo`, its text is written to stdout as it comes."""
    try:
        stream = await stack.answers.stream(question, collection_ids=collection_ids, model=model)
        try:
            async for event in stream:
                if isinstance(event, TextDelta) and echo:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, AnswerDone):
                    return event.answer
        finally:
            await stream.aclose()
    finally:
        # The router's connections belong to this event loop: close them on it.
        await stack.llm.aclose()
    raise AssertionError("an answer stream always ends with AnswerDone")


def print_sources(answer: Answer) -> None:
    sys.stdout.write("\n")
    if answer.refused:
        return
    sources = answer.sources()
    if not sources:
        console.print("\n[dim]no sources cited[/dim]")
        return
    console.print("\n[bold]Sources[/bold]")
    for citation in sources:
        quote = " ".join(citation.quote.split())
        if len(quote) > 240:
            quote = quote[:240] + "…"
        console.print(
            f"[{citation.number}] {citation.filename} · {citation.location}",
            highlight=False,
            markup=False,
        )
        console.print(f'    "{quote}"', highlight=False, markup=False, style="dim")


def answer_dict(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "model": answer.model,
        "answer": answer.text,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "citations": [_citation_dict(c) for c in answer.citations],
        "usage": {
            "prompt_tokens": answer.usage.prompt_tokens,
            "completion_tokens": answer.usage.completion_tokens,
        },
    }


def _citation_dict(citation: Citation) -> dict[str, Any]:
    return {
        "number": citation.number,
        "file_id": citation.file_id,
        "filename": citation.filename,
        "collection_id": citation.collection_id,
        "chunk_id": citation.chunk_id,
        "page_start": citation.page_start,
        "page_end": citation.page_end,
        "heading_path": citation.heading_path,
        "quote": citation.quote,
        "quote_start": citation.quote_start,
        "quote_end": citation.quote_end,
        "marker_start": citation.marker_start,
        "marker_end": citation.marker_end,
        "modality": citation.modality,
        "start_seconds": citation.time_start,
        "end_seconds": citation.time_end,
    }
