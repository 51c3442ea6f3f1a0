"""Analytics of searches and ingestion: searches and the results opened from them counted
as they are made (off with `search.record_queries`), read back as top and zero-result
queries with their click-through, and ingestion's states, failures and daily throughput."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Final

from mmstack.store.analytics import (
    DAY,
    IngestionStats,
    QueryStats,
    add_counts,
    click_counts,
    ingestion_stats,
    query_stats,
    search_counts,
)
from mmstack.store.db import Database

log = logging.getLogger(__name__)
BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class _Counts:
    day: int
    team_id: str
    user_id: str
    query: str
    mode: str
    counts: dict[str, float]


class Analytics:
    """Searches and clicks are counted by a thread of their own, in batches: a search's
    answer never waits for its count to be written."""

    def __init__(self, db: Database, *, record_queries: bool = True) -> None:
        self._db = db
        self.record_queries = record_queries
        self._pending: queue.Queue[_Counts | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def record_search(
        self, *, team_id: str, user_id: str, query: str, mode: str, results: int, seconds: float
    ) -> None:
        """Count one search (soon: `flush` waits for it)."""
        self._record(team_id, user_id, query, mode, search_counts(results, seconds))

    def record_click(
        self, *, team_id: str, user_id: str, query: str, mode: str, rank: int, first: bool
    ) -> None:
        """Count one result opened from the results of a search of `query` in `mode`, at
        `rank` (1 = the first); `first`: the first one opened from that list."""
        self._record(team_id, user_id, query, mode, click_counts(rank, first))

    def _record(
        self, team_id: str, user_id: str, query: str, mode: str, counts: dict[str, float]
    ) -> None:
        if not self.record_queries or not query.strip():
            return
        day = int(time.time() // DAY)
        self._pending.put(_Counts(day, team_id, user_id, query, mode, counts))
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, name="search-analytics", daemon=True
                )
                self._writer.start()

    def flush(self) -> None:
        """Wait until every search counted so far is written."""
        self._pending.join()

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._pending.put(None)
            writer.join(timeout=30)

    def _write(self) -> None:
        while True:
            batch = [self._pending.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            counted = [c for c in batch if c is not None]
            try:
                if counted:
                    with self._db.session(write=True) as session:
                        for c in counted:
                            add_counts(
                                session,
                                self._db,
                                day=c.day,
                                team_id=c.team_id,
                                user_id=c.user_id,
                                query=c.query,
                                mode=c.mode,
                                counts=c.counts,
                            )
            except Exception:  # a count lost is logged; searching goes on
                log.exception("%d searches or clicks could not be counted", len(counted))
            finally:
                for _ in batch:
                    self._pending.task_done()
            if len(counted) < len(batch):
                return

    def queries(
        self,
        *,
        since_day: int,
        until_day: int,
        team_ids: list[str] | None = None,
        user_ids: list[str] | None = None,
        zero_only: bool = False,
        limit: int = 20,
    ) -> list[QueryStats]:
        with self._db.session() as session:
            return query_stats(
                session,
                since_day=since_day,
                until_day=until_day,
                team_ids=team_ids,
                user_ids=user_ids,
                zero_only=zero_only,
                limit=limit,
            )

    def ingestion(
        self, *, since_day: int, until_day: int, team_ids: list[str] | None = None
    ) -> IngestionStats:
        with self._db.session() as session:
            return ingestion_stats(
                session, since_day=since_day, until_day=until_day, team_ids=team_ids
            )
