"""Sentence embeddings with an ONNX transformer encoder (mean pooling, L2-normalized)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from mmstack.arrays import FloatArray


class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(
        self, texts: Sequence[str], *, between_batches: Callable[[], None] | None = None
    ) -> FloatArray:
        """One L2-normalized row per text, in input order; `between_batches` is called
        after each batch the model runs (a job's heartbeat: it may raise to stop)."""

    def embed_query(self, text: str) -> FloatArray:
        """One search query, L2-normalized, on a single thread (see OnnxSentenceEmbedder)."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, without special tokens and without truncation."""

    def tokenize_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token of `text` (no special tokens, no truncation)."""


class OnnxSentenceEmbedder:
    """A BERT-style encoder exported to ONNX, as sentence-transformers runs it.

    Texts are sorted by length before batching so each batch pads to similar lengths; this
    matters more for throughput than the batch size itself.
    """

    def __init__(
        self,
        model_id: str,
        model_path: Path,
        tokenizer_path: Path,
        *,
        max_tokens: int = 256,
        batch_size: int = 32,
        threads: int | None = None,
        query_model_path: Path | None = None,
    ) -> None:
        self._model_id = model_id
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        # Queries get a single-threaded session of their own: a query is too short to gain
        # much from more threads, and the other cores are then free for the keyword search
        # that runs beside it and for concurrent requests. It may run a quantized copy of
        # the model (`query_model_path`), faster on short inputs. The documents' session is
        # made when documents are first embedded: a server that only searches never holds
        # the full-precision model (about 100 MB resident).
        self._query_session = _session(query_model_path or model_path, 1)
        self._model_path = model_path
        self._threads = threads
        self._session: ort.InferenceSession | None = None
        self._session_lock = threading.Lock()
        self._input_names = {i.name for i in self._query_session.get_inputs()}
        self._dimension = int(self._query_session.get_outputs()[0].shape[-1])
        self._counter = Tokenizer.from_file(str(tokenizer_path))
        self._counter.no_truncation()
        self._counter.no_padding()
        # tokenizers' Tokenizer is not safe to reconfigure concurrently; the encoder keeps
        # its own fixed configuration and only encodes.
        self._encoder = Tokenizer.from_file(str(tokenizer_path))
        self._encoder.enable_truncation(max_length=max_tokens)
        self._encoder.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, not a password)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def tokenize_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token of `text` (no special tokens, no truncation)."""
        encoding: Encoding = self._counter.encode(text, add_special_tokens=False)
        return list(encoding.offsets)

    def embed(
        self, texts: Sequence[str], *, between_batches: Callable[[], None] | None = None
    ) -> FloatArray:
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            out[batch] = self._embed_batch([texts[i] for i in batch])
            if between_batches is not None:
                between_batches()
        return out

    def embed_query(self, text: str) -> FloatArray:
        # `encode`, not `encode_batch`: one text gains nothing from the batch's thread pool,
        # which costs more than the encoding.
        encoded = [self._encoder.encode(text)]
        vector: FloatArray = self._embed_encoded(encoded, self._query_session)[0]
        return vector

    def _document_session(self) -> ort.InferenceSession:
        with self._session_lock:
            if self._session is None:
                self._session = _session(self._model_path, self._threads)
            return self._session

    def _embed_batch(
        self, texts: list[str], session: ort.InferenceSession | None = None
    ) -> FloatArray:
        return self._embed_encoded(self._encoder.encode_batch(texts), session)

    def _embed_encoded(
        self, encodings: list[Encoding], session: ort.InferenceSession | None = None
    ) -> FloatArray:
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = (session or self._document_session()).run(["last_hidden_state"], feeds)[:1]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: FloatArray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


def _session(model_path: Path, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
