"""Shapes shared by the OpenAI-compatible resources: deletions, metadata, attributes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from mmstack.api.schemas import Identified
from mmstack.json_numbers import JsonInt

MAX_PAIRS = 16


class Deleted(Identified):
    object: str
    deleted: bool = True


def _check_pairs(pairs: dict[str, Any], what: str) -> dict[str, Any]:
    if len(pairs) > MAX_PAIRS:
        raise ValueError(f"{what} holds at most {MAX_PAIRS} pairs")
    for key, value in pairs.items():
        if len(key) > 64:
            raise ValueError(f"{what} keys are at most 64 characters")
        if isinstance(value, str) and len(value) > 512:
            raise ValueError(f"{what} values are at most 512 characters")
    return pairs


def _metadata(pairs: dict[str, str]) -> dict[str, str]:
    return _check_pairs(pairs, "metadata")


def _attributes(pairs: dict[str, str | bool | int | float]) -> dict[str, str | bool | int | float]:
    return _check_pairs(pairs, "attributes")


Metadata = Annotated[dict[str, str], AfterValidator(_metadata)]
Attributes = Annotated[dict[str, str | bool | int | float], AfterValidator(_attributes)]

# Accepted for compatibility; mmstack chunks every file with its configured settings.
ChunkingStrategyIn = dict[str, Any]


class ExpiresAfterIn(BaseModel):
    """Accepted for compatibility; mmstack does not expire vector stores."""

    model_config = ConfigDict(strict=True)

    anchor: Literal["last_active_at"]
    days: JsonInt
