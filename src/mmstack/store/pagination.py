"""Cursor pagination over creation order, as OpenAI's list endpoints page.

A list is ordered by (created_at, tiebreak) and a cursor is an object's id: `after` gives
the objects that follow it in the list's order, `before` the ones that precede it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import QueryableAttribute, Session

from mmstack.errors import InvalidRequestError, NotFoundError

T = TypeVar("T")

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 20
    order: Order = "desc"
    after: str | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 10_000:
            raise InvalidRequestError("limit must be between 1 and 10000", param="limit")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


SortKey = tuple[Any, Any]


def unknown_cursor(name: str, value: str) -> NotFoundError:
    """A cursor that names nothing in the list: not found (it may have been deleted)."""
    return NotFoundError(f"'{name}' cursor '{value}' is not in this list", param=name)


def paginate(
    session: Session,
    stmt: Select[T],
    key: tuple[QueryableAttribute[Any], QueryableAttribute[Any]],
    page: PageRequest,
    *,
    after_key: SortKey | None = None,
    before_key: SortKey | None = None,
) -> Page[T]:
    """One page of `stmt` (a select of one entity) ordered by `key`, given the sort keys
    of the `after` and `before` objects (resolved by the caller)."""
    ascending = page.order == "asc"
    row = tuple_(*key)
    if after_key is not None:
        stmt = stmt.where(row > tuple_(*after_key) if ascending else row < tuple_(*after_key))
    if before_key is not None:
        stmt = stmt.where(row < tuple_(*before_key) if ascending else row > tuple_(*before_key))
    # With only `before`, the page is the objects right before the cursor: read them
    # backwards from it, then turn them round.
    backwards = before_key is not None and after_key is None
    forward = ascending != backwards
    columns = [k.asc() if forward else k.desc() for k in key]
    items = list(session.scalars(stmt.order_by(*columns).limit(page.limit + 1)))
    has_more = len(items) > page.limit
    items = items[: page.limit]
    if backwards:
        items.reverse()
    return Page(items, has_more)


def paginate_by_id(
    session: Session,
    stmt: Select[T],
    key: tuple[QueryableAttribute[Any], QueryableAttribute[Any]],
    cursor_column: QueryableAttribute[Any],
    page: PageRequest,
    *,
    cursors_in: Select[T] | None = None,
) -> Page[T]:
    """`paginate`, with the `after` and `before` cursors the values of `cursor_column` (an
    object's public id) of objects in `cursors_in` (default: `stmt`, the list itself; a
    filtered list takes its cursors from the whole one, so an object that left the filter
    between two pages still marks the place); a cursor naming none is not found."""
    within = stmt if cursors_in is None else cursors_in

    def sort_key(name: str, value: str | None) -> SortKey | None:
        if value is None:
            return None
        found = session.execute(
            within.with_only_columns(*key).where(cursor_column == value).limit(1)
        ).first()
        if found is None:
            raise unknown_cursor(name, value)
        return found[0], found[1]

    return paginate(
        session,
        stmt,
        key,
        page,
        after_key=sort_key("after", page.after),
        before_key=sort_key("before", page.before),
    )
