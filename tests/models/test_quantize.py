"""The quantized query model: made once, integer MatMuls, vectors close to the model's own."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest

from mmstack.models.catalog import BUNDLED_MODELS, MINILM_ID, load_onnx_embedder
from mmstack.models.quantize import dynamic_int8
from mmstack.models.registry import ModelRegistry
from mmstack.store.blobs import file_sha256

QUERIES = [
    "what is the effect of aspirin on the risk of a heart attack",
    "boundary layer transition at high Mach number",
    "how many patients received the treatment?",
    "vitamin D deficiency and bone fractures in elderly women",
    "Paris",
]


def test_queries_embedded_by_the_quantized_copy_stay_close(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = ModelRegistry(BUNDLED_MODELS, tmp_path / "models").paths(MINILM_ID)
    with caplog.at_level(logging.INFO):
        quantized = dynamic_int8(paths["model"], tmp_path / "quantized")
    # onnxruntime's advice to pre-process the model (on the root logger) is not shown.
    assert [r.getMessage() for r in caplog.records if r.name == "root"] == []
    assert dynamic_int8(paths["model"], tmp_path / "quantized") == quantized  # made once
    # Named by the source's digest, whether the registry gives it or it is computed.
    known = file_sha256(paths["model"])
    assert dynamic_int8(paths["model"], tmp_path / "quantized", source_sha256=known) == quantized
    ops = {node.op_type for node in onnx.load(str(quantized)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    assert quantized.stat().st_size < paths["model"].stat().st_size * 1.2

    spec = next(s for s in BUNDLED_MODELS if s.id == MINILM_ID)
    common = {"max_tokens": 128, "batch_size": 4, "threads": 1}
    plain = load_onnx_embedder(spec, paths, **common)  # type: ignore[arg-type]
    fast = load_onnx_embedder(spec, paths, query_model_path=quantized, **common)
    for query in QUERIES:
        assert float(plain.embed_query(query) @ fast.embed_query(query)) > 0.985
        # Documents are still embedded by the model itself.
        assert np.allclose(plain.embed([query]), fast.embed([query]), atol=1e-6)
