from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, WithJsonSchema, field_validator

from mmstack.api.schemas import NOT_BLANK, STRICT
from mmstack.arrays import FloatArray
from mmstack.errors import InvalidRequestError
from mmstack.index.embeddings import MAX_INPUTS, EmbeddingInput, Embeddings
from mmstack.json_numbers import JsonInt

_INPUT_SHAPE = "input must be a string, an array of strings, or one or more token arrays"


_TOKENS = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}
_TEXT = {"type": "string", **NOT_BLANK}
# What `inputs()` and the embedding service take (the vocabulary's size and the token
# limit are the model's, not the schema's).
_INPUT_SCHEMA = {
    "anyOf": [
        _TEXT,
        {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": MAX_INPUTS},
        _TOKENS,
        {"type": "array", "items": _TOKENS, "minItems": 1, "maxItems": MAX_INPUTS},
    ]
}


class EmbeddingRequest(BaseModel):
    model_config = STRICT

    model: str
    # Checked by `inputs()`, which says what is wrong more plainly than a union's errors.
    input: Annotated[str | list[Any], WithJsonSchema(_INPUT_SCHEMA)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: JsonInt | None = Field(None, ge=1)
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _string_or_array(cls, value: object) -> object:
        if not isinstance(value, str | list):
            raise ValueError(_INPUT_SHAPE)
        return value

    def inputs(self) -> list[EmbeddingInput]:
        """The inputs as texts and token arrays, one per embedding to return."""
        if isinstance(self.input, str):
            return [self.input]
        if self.input and _is_token_array(self.input):
            return [self.input]
        for item in self.input:
            if not (isinstance(item, str) or _is_token_array(item)):
                raise InvalidRequestError(_INPUT_SHAPE, param="input")
        return list(self.input)


def _is_token_array(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    )


class EmbeddingOut(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class UsageOut(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str
    usage: UsageOut

    @classmethod
    def of(cls, result: Embeddings, encoding: Literal["float", "base64"]) -> EmbeddingResponse:
        return cls(
            data=[
                EmbeddingOut(index=i, embedding=_encode(row, encoding))
                for i, row in enumerate(result.vectors)
            ],
            model=result.model,
            usage=UsageOut(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
        )


def _encode(row: FloatArray, encoding: Literal["float", "base64"]) -> list[float] | str:
    if encoding == "base64":
        # OpenAI's base64 form: the float32 values, little-endian, as bytes.
        return base64.b64encode(row.astype(np.dtype("<f4")).tobytes()).decode("ascii")
    return [float(x) for x in row]
