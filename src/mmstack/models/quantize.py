"""Dynamic int8 quantization of an ONNX encoder, made once and kept in the model cache.

The bundled MiniLM stores int8 weights but casts them back to float when loaded, so it runs
float MatMuls. Quantized dynamically (int8 weights per output channel, activations
quantized on the fly), the same model embeds a short query about twice as fast on a CPU,
with vectors at cosine 0.99+ to the float ones. Only queries use it: documents keep the
float vectors already in the index (see `bench/README.md` for the retrieval check).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnxruntime as ort

from mmstack.store.blobs import file_sha256


@contextmanager
def _root_logger_silenced() -> Iterator[None]:
    """Drops records logged on the root logger itself meanwhile: onnxruntime's quantizer
    logs there (advice to pre-process the model, a line per tensor), news to no operator.
    Records of named loggers (mmstack's, the libraries' own) pass as before."""
    root = logging.getLogger()

    def drop(record: logging.LogRecord) -> bool:
        return False

    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def dynamic_int8(model_path: Path, cache_dir: Path, *, source_sha256: str | None = None) -> Path:
    """The dynamically quantized copy of `model_path` (made on first use; safe when two
    processes make it at once: each writes its own file and the last rename wins).

    `source_sha256` is the model file's digest when the registry already knows it (it
    verified the file), so a start does not read the whole model again to name the copy.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    digest = source_sha256 or file_sha256(model_path)
    target = cache_dir / f"{digest[:16]}-dynamic-int8.onnx"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".quantize-") as work:
        # Folded to plain float weights first: the quantizer needs float MatMul inputs.
        folded = Path(work) / "float.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        quantized = Path(work) / "int8.onnx"
        with _root_logger_silenced():
            quantize_dynamic(folded, quantized, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(quantized, target)
    return target
