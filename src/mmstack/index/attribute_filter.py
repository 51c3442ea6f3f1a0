"""Filters on a file's attributes (OpenAI's comparison and compound filters).

A comparison of a key the file does not have is false, except `ne` and `nin`, which a
missing value satisfies. Numbers compare with numbers and strings with strings; booleans
only equal booleans; any other pairing is false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

Scalar = str | float | bool
_Ordered = TypeVar("_Ordered", float, str)
ComparisonOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]


@dataclass(frozen=True, slots=True)
class Comparison:
    key: str
    op: ComparisonOp
    value: Scalar | Sequence[str | float]


@dataclass(frozen=True, slots=True)
class Compound:
    op: Literal["and", "or"]
    filters: Sequence[AttributeFilter]


AttributeFilter = Comparison | Compound


def matches(flt: AttributeFilter, attributes: Mapping[str, Scalar]) -> bool:
    if isinstance(flt, Compound):
        results = (matches(f, attributes) for f in flt.filters)
        return all(results) if flt.op == "and" else any(results)
    if flt.key not in attributes:
        return flt.op in ("ne", "nin")
    actual = attributes[flt.key]
    match flt.op:
        case "eq":
            return _equal(actual, flt.value)
        case "ne":
            return not _equal(actual, flt.value)
        case "in":
            return any(_equal(actual, v) for v in _values(flt.value))
        case "nin":
            return not any(_equal(actual, v) for v in _values(flt.value))
        case _:
            return _ordered(actual, flt.op, flt.value)


def _values(value: Scalar | Sequence[str | float]) -> Sequence[str | float | bool]:
    """The values of an `in`/`nin` list (a single value counts as a list of one)."""
    if isinstance(value, str | int | float):  # bool is an int
        return [value]
    return value


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str" if isinstance(value, str) else "other"


def _equal(actual: object, expected: object) -> bool:
    return _kind(actual) == _kind(expected) != "other" and actual == expected


def _ordered(actual: object, op: ComparisonOp, expected: object) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return _compare(float(actual), float(expected), op)
    if isinstance(actual, str) and isinstance(expected, str):
        return _compare(actual, expected, op)
    return False


def _compare(a: _Ordered, b: _Ordered, op: ComparisonOp) -> bool:
    match op:
        case "gt":
            return a > b
        case "gte":
            return a >= b
        case "lt":
            return a < b
        case _:
            return a <= b
