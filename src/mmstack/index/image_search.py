"""Text-to-image search: pictures embedded with a CLIP-style model in a vector index of their
own (its vectors live in another space than the text embedder's), each keyed by the id of
the first chunk shown on that picture, so a picture found is a chunk found and fuses with
keyword and text-vector candidates like any other.

Derived like the text vectors: a picture's vector is written after its chunks, stale ones
(their chunk deleted) are never returned because hits are hydrated from the database, and
the reconciler removes them at start-up.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from mmstack.arrays import FloatArray
from mmstack.index.filters import SearchFilter
from mmstack.index.vector import VectorIndex, VectorPayload, VectorPoint

if TYPE_CHECKING:
    from PIL import Image


class ImageTextEmbedder(Protocol):
    model_id: str
    dimension: int

    def embed_images(self, images: Sequence[Image.Image]) -> FloatArray: ...

    def embed_texts(self, texts: Sequence[str]) -> FloatArray: ...


class ImageSearch:
    def __init__(self, embedder: ImageTextEmbedder, index: VectorIndex) -> None:
        self._embedder = embedder
        self.index = index

    def add(self, pictures: Sequence[tuple[int, bytes]], payload: VectorPayload) -> None:
        """Embed pictures (chunk id, encoded image) of one file and store their vectors."""
        if not pictures:
            return
        from PIL import Image  # only where pictures are indexed

        images = [Image.open(io.BytesIO(data)) for _, data in pictures]
        vectors = self._embedder.embed_images(images)
        self.index.upsert(
            [
                VectorPoint(id=chunk_id, vector=vector, payload=payload)
                for (chunk_id, _), vector in zip(pictures, vectors, strict=True)
            ]
        )

    def search(
        self, query: str, *, limit: int, flt: SearchFilter | None
    ) -> list[tuple[int, float]]:
        (vector,) = self._embedder.embed_texts([query])
        return [(hit.id, hit.score) for hit in self.index.search(vector, limit=limit, flt=flt)]
