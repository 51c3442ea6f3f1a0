"""The text embedder: queries need only the query model; the documents' model session is
made when documents are first embedded."""

from __future__ import annotations

from pathlib import Path
from threading import Thread

import numpy as np
import pytest

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


def test_between_batches_is_called_after_each_batch_and_may_stop_it(tmp_path: Path) -> None:
    paths = ModelRegistry(BUNDLED_MODELS, tmp_path / "models").paths(MINILM_ID)
    spec = next(s for s in BUNDLED_MODELS if s.id == MINILM_ID)
    embedder = load_onnx_embedder(spec, paths, max_tokens=64, batch_size=2, threads=1)
    texts = [f"Note {n} about barn owls." for n in range(5)]
    calls: list[int] = []
    whole = embedder.embed(texts, between_batches=lambda: calls.append(1))
    assert len(calls) == 3  # batches of 2, 2 and 1
    assert np.allclose(whole, embedder.embed(texts))

    class StopError(Exception):
        pass

    def stop() -> None:
        raise StopError

    with pytest.raises(StopError):  # the caller's stop ends the work after the first batch
        embedder.embed(texts, between_batches=stop)
