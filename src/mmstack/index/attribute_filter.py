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


_COMPARISONS: frozenset[str] = frozenset(("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"))


def parse_filter(data: object, *, where: str = "filters") -> AttributeFilter:
    """A filter from its JSON form (`{"type": "eq", "key": ..., "value": ...}` or
    `{"type": "and", "filters": [...]}`); a ValueError says what is wrong and where."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be an object")
    kind = data.get("type")
    if kind in ("and", "or"):
        parts = data.get("filters")
        if not isinstance(parts, list) or not parts:
            raise ValueError(f"{where}.filters must be a list of at least one filter")
        found = tuple(parse_filter(p, where=f"{where}.filters[{n}]") for n, p in enumerate(parts))
        return Compound(kind, found)
    if kind not in _COMPARISONS:
        raise ValueError(f"{where}.type must be one of {', '.join(sorted(_COMPARISONS))}, and, or")
    key, value = data.get("key"), data.get("value")
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where}.key must be a non-empty string")
    if isinstance(value, list):
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{where}.value: a list holds only strings and numbers")
    elif not isinstance(value, str | int | float | bool):
        raise ValueError(f"{where}.value must be a string, number, boolean or list")
    return Comparison(key, kind, value)


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
