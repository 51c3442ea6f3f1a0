"""Pictures of what a file holds, for people to look at: a PDF's page with the quoted
passage outlined (the console opens a citation there). The PDF is decoded where parsing
is (a helper process with budgets, when `ingest.isolate_parsers` is on), by a few threads
of its own: each thread keeps one helper, so a burst of requests starts no more helpers
than there are threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.ingest.parsers import decoder_for
from mmstack.ingest.parsers.context import Isolation
from mmstack.ingest.parsers.pdf_pages import PageImage, render_page
from mmstack.knowledge.collections import CollectionService
from mmstack.media_types import APPLICATION_PDF
from mmstack.store.blobs import BlobStore
from mmstack.store.ownership import Owner, OwnerScoped

# Wide enough to read a page on a desktop screen, small enough to send in a moment.
PAGE_SIDE = 1400
RENDERERS = 2


class PagePreviews(OwnerScoped):
    def __init__(
        self,
        collections: CollectionService,
        blobs: BlobStore,
        isolation: Isolation | None,
        *,
        max_side: int = PAGE_SIDE,
        renderers: int = RENDERERS,
    ) -> None:
        self._collections = collections
        self._blobs = blobs
        self._isolation = isolation
        self._max_side = max_side
        # Shared by the owner-bound copies (`for_owner` copies this object shallowly).
        self._renderers = ThreadPoolExecutor(renderers, thread_name_prefix="page-render")

    def close(self) -> None:
        self._renderers.shutdown(wait=False, cancel_futures=True)

    def _bind_parts(self, owner: Owner) -> None:
        self._collections = self._collections.for_owner(owner)

    def page(self, collection: str, file_id: str, number: int, *, quote: str | None) -> PageImage:
        """Page `number` (from 1) of a PDF in the collection, with the boxes of `quote`."""
        member = self._collections.file(collection, file_id)
        stored = member.file
        if stored.media_type != APPLICATION_PDF:
            raise InvalidRequestError(
                f"'{stored.filename}' is not a PDF: only PDF files have pages to show",
                param="file_id",
            )
        pages = (stored.media_info or {}).get("page_count")
        if not isinstance(pages, int) or not 1 <= number <= pages:
            raise NotFoundError(
                f"'{stored.filename}' has no page {number}"
                + (f" (it has {pages})" if isinstance(pages, int) else " (not read yet)"),
                param="page",
            )
        path = self._blobs.local_path(stored.sha256)
        decoder = decoder_for(self._isolation, stored.size_bytes)
        return decoder.call(render_page, path, number, max_side=self._max_side, quote=quote or None)
