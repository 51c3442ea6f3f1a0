"""Integers in request bodies read as JSON Schema reads them: a number without a fraction
(`2` or `2.0`), never `true` or `"2"`. Pydantic's strict mode refuses `2.0` and its lax mode
takes `true` and `"2"`, so strict bodies declare their integers as `JsonInt`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Strict


def _a_number(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("Input should be a valid integer")
    return value


JsonInt = Annotated[int, Strict(False), BeforeValidator(_a_number)]
