"""Embeddings on request (OpenAI's `/v1/embeddings`) with the stack's embedding model.

Inputs are texts, or token arrays in the embedding model's own vocabulary (as vLLM reads
them), decoded to text first. An input over the model's token limit is refused rather than
silently truncated, as OpenAI does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tokenizers import Tokenizer

from mmstack.arrays import FloatArray
from mmstack.errors import InvalidRequestError
from mmstack.index.model_directory import ModelDirectory
from mmstack.models.embedder import Embedder

# OpenAI's limits per request.
MAX_INPUTS = 2048
MAX_TOTAL_TOKENS = 300_000

EmbeddingInput = str | Sequence[int]  # a text, or a token array


class TokenDecoder(Protocol):
    @property
    def vocab_size(self) -> int: ...

    def decode(self, ids: Sequence[int]) -> str: ...


class TokenizerDecoder:
    """A `tokenizers` tokenizer (the embedding model's own) as a `TokenDecoder`."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size())

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tokenizer.decode(list(ids), skip_special_tokens=True))


@dataclass(frozen=True, slots=True)
class Embeddings:
    model: str
    vectors: FloatArray  # one L2-normalized row per input, in input order
    prompt_tokens: int


class EmbeddingService:
    def __init__(
        self,
        embedder: Embedder,
        decoder: TokenDecoder,
        models: ModelDirectory,
        *,
        max_input_tokens: int,
    ) -> None:
        self._embedder = embedder
        self._decoder = decoder
        self._models = models
        self._max_input_tokens = max_input_tokens

    def embed(
        self, model: str, inputs: Sequence[EmbeddingInput], *, dimensions: int | None = None
    ) -> Embeddings:
        served = self._models.require(model, "embedding")
        if served.id != self._embedder.model_id:
            raise InvalidRequestError(f"no embedder is loaded for '{model}'", param="model")
        if dimensions is not None and dimensions != self._embedder.dimension:
            raise InvalidRequestError(
                f"the model '{model}' makes {self._embedder.dimension}-dimensional embeddings "
                f"and cannot shorten them to {dimensions}; omit `dimensions`",
                param="dimensions",
            )
        texts = self._texts(inputs)
        counts = self._embedder.count_tokens(texts)
        for i, count in enumerate(counts):
            if count > self._max_input_tokens:
                raise InvalidRequestError(
                    f"input[{i}] has {count} tokens, over the model's limit of "
                    f"{self._max_input_tokens}",
                    param="input",
                )
        if sum(counts) > MAX_TOTAL_TOKENS:
            raise InvalidRequestError(
                f"the inputs have {sum(counts)} tokens together, over the limit of "
                f"{MAX_TOTAL_TOKENS} per request",
                param="input",
            )
        return Embeddings(served.id, self._embedder.embed(texts), sum(counts))

    def _texts(self, inputs: Sequence[EmbeddingInput]) -> list[str]:
        if not inputs:
            raise InvalidRequestError("input must not be empty", param="input")
        if len(inputs) > MAX_INPUTS:
            raise InvalidRequestError(
                f"at most {MAX_INPUTS} inputs per request, not {len(inputs)}", param="input"
            )
        return [self._text(i, item) for i, item in enumerate(inputs)]

    def _text(self, index: int, item: EmbeddingInput) -> str:
        if isinstance(item, str):
            if not item.strip():
                raise InvalidRequestError(f"input[{index}] is empty", param="input")
            return item
        if not item:
            raise InvalidRequestError(f"input[{index}] is an empty token array", param="input")
        if len(item) > self._max_input_tokens:
            raise InvalidRequestError(
                f"input[{index}] has {len(item)} tokens, over the model's limit of "
                f"{self._max_input_tokens}",
                param="input",
            )
        vocab = self._decoder.vocab_size
        bad = next((t for t in item if not 0 <= t < vocab), None)
        if bad is not None:
            raise InvalidRequestError(
                f"input[{index}] holds token {bad}, outside the model's vocabulary "
                f"(0 to {vocab - 1})",
                param="input",
            )
        text = self._decoder.decode(item)
        if not text.strip():
            raise InvalidRequestError(f"input[{index}] decodes to no text", param="input")
        return text
