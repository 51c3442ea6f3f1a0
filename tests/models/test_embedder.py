"""The text embedder: queries need only the query model; the documents' model session is
made when documents are first embedded."""

from __future__ import annotations

from pathlib import Path
from threading import Thread

import numpy as np

from mmstack.models.catalog import BUNDLED_MODELS, MINILM_ID, load_onnx_embedder
from mmstack.models.registry import ModelRegistry


def test_the_documents_session_is_made_once_when_documents_are_first_embedded(
    tmp_path: Path,
) -> None:
    paths = ModelRegistry(BUNDLED_MODELS, tmp_path / "models").paths(MINILM_ID)
    spec = next(s for s in BUNDLED_MODELS if s.id == MINILM_ID)
    embedder = load_onnx_embedder(spec, paths, max_tokens=128, batch_size=4, threads=1)
    query = embedder.embed_query("how are corroded pipes repaired")
    assert query.shape == (embedder.dimension,)
    assert embedder._session is None  # a searcher holds the query model alone

    texts = ["Corroded pipes are cut out and replaced.", "Owls hunt voles at dusk."]
    results: list[np.ndarray] = []
    threads = [Thread(target=lambda: results.append(embedder.embed(texts))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session = embedder._session
    assert session is not None
    assert embedder.embed(texts).shape == (2, embedder.dimension)
    assert embedder._session is session  # made once, even when first asked for at once
    assert all(np.allclose(r, results[0]) for r in results)
    # The same model on both sides: a document that is the query is closest to it.
    assert float(embedder.embed(["how are corroded pipes repaired"])[0] @ query) > 0.99
