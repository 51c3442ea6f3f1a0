"""The rows a search reads on every request, from queries compiled once per database
(`PlainQuery`): the collections a team may search, and the chunks hits are made of."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, select

from mmstack.store.db import PlainQuery
from mmstack.store.models import Chunk, Collection, CollectionFile, FileStatus, StoredFile


class HitRow(NamedTuple):
    """A row of `_HYDRATE`, as the DB-API gives it (JSON columns as `json_value` reads)."""

    id: int
    text: str
    collection_id: str
    file_id: str
    filename: str
    media_type: str
    seq: int
    page_start: int | None
    page_end: int | None
    heading_path: Any
    char_start: int
    char_end: int
    source: str
    region: Any
    time_start: float | None
    time_end: float | None
    thumbnail: str | None
    timeline: Any


_FILE_COLUMNS = frozenset({"filename", "media_type"})  # the rest are the chunk's
# Run on every search as a `PlainQuery` (one per number of ids); its columns are
# `HitRow`'s fields, in order.
_HYDRATE = (
    select(*(getattr(StoredFile if f in _FILE_COLUMNS else Chunk, f) for f in HitRow._fields))
    .join(CollectionFile, CollectionFile.id == Chunk.collection_file_id)
    .join(StoredFile, StoredFile.id == Chunk.file_id)
    .where(
        Chunk.id.in_(bindparam("ids", expanding=True)),
        CollectionFile.status == FileStatus.COMPLETED,
    )
)


class SearchRows:
    """The queries of one database's searches, each compiled once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._hydrations: dict[int, PlainQuery] = {}
        # Both run before every search bound to an owner.
        self._team_collections = PlainQuery(
            engine,
            select(Collection.id).where(Collection.team_id == bindparam("team_id")),
            ["team_id"],
        )
        self._other_teams_collection = PlainQuery(
            engine,
            select(Collection.id).where(Collection.team_id != bindparam("team_id")).limit(1),
            ["team_id"],
        )

    def team_collection_ids(self, team_id: str) -> set[str]:
        return {row[0] for row in self._team_collections.rows({"team_id": team_id})}

    def other_team_has_collection(self, team_id: str) -> bool:
        return bool(self._other_teams_collection.rows({"team_id": team_id}))

    def hits(self, ids: list[int]) -> dict[int, HitRow]:
        """The rows of the chunks with these ids whose files are completed, by id."""
        query_for = self._hydrations.get(len(ids))
        if query_for is None:  # one per number of ids; top_k is bounded
            query_for = PlainQuery(self._engine, _HYDRATE, lists={"ids": len(ids)})
            self._hydrations[len(ids)] = query_for
        return {raw[0]: HitRow._make(raw) for raw in query_for.rows({"ids": ids})}
