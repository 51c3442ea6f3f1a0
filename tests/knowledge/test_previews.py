"""A PDF's page for people to look at: rendered where parsing is (a helper process), by a
few threads of the service's own, so a burst of requests starts no more helpers than that."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.knowledge.previews import RENDERERS
from mmstack.stack import Stack
from tests.documents import PAGE_TEXTS, make_pdf


def _helpers() -> set[int]:
    """This process's parser helpers."""
    return {
        child.pid
        for child in psutil.Process().children()
        if "import serve" in " ".join(child.cmdline())
    }


def test_a_burst_of_page_requests_starts_no_more_helpers_than_renderers(stack: Stack) -> None:
    collection = stack.collections.create("reports").id
    report = stack.intake.add_file(collection, "report.pdf", make_pdf(PAGE_TEXTS))
    notes = stack.intake.add_file(collection, "notes.txt", b"Plain notes.")
    stack.worker.run_until_idle()
    file_id = report.collection_file.file_id
    before = _helpers()

    with ThreadPoolExecutor(8) as callers:
        pages = list(
            callers.map(
                lambda n: stack.previews.page(collection, file_id, n % 4 + 1, quote=None),
                range(16),
            )
        )
    assert [p.page_count for p in pages] == [4] * 16
    assert len(_helpers() - before) <= RENDERERS

    quoted = stack.previews.page(collection, file_id, 3, quote=PAGE_TEXTS[2][:60])
    assert quoted.boxes
    with pytest.raises(NotFoundError, match="has no page 5"):
        stack.previews.page(collection, file_id, 5, quote=None)
    with pytest.raises(InvalidRequestError, match="not a PDF"):
        stack.previews.page(collection, notes.collection_file.file_id, 1, quote=None)
