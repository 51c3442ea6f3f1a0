"""Search and ingestion analytics over real ingestion and searches (SQLite and
PostgreSQL): top and zero-result queries counted under their normalized form, scoped by
user and team, deleted with the usage counters by retention; ingestion by state,
failures by reason and finished files per day."""

from __future__ import annotations

import time

from mmstack.knowledge.members import FileToAttach
from mmstack.ops.retention import RetentionService
from mmstack.stack import Stack
from mmstack.store.analytics import DAY, add_counts, normalized_query, search_counts

OWLS = b"Barn owls hunt voles at night over open meadows."
MOSS = b"Moss grows on the north side of old oak trees."


def _today() -> int:
    return int(time.time() // DAY)


def _search(stack: Stack, query: str, *, user: str = "user-a", team: str = "team-1") -> None:
    hits = stack.search.search(query, mode="keyword")
    stack.analytics.record_search(
        team_id=team, user_id=user, query=query, mode="keyword", results=len(hits), seconds=0.01
    )


def test_normalized_query() -> None:
    assert normalized_query("  Barn   OWLS\n") == "barn owls"
    assert len(normalized_query("x" * 2000)) == 500


def test_queries_and_ingestion_from_real_use(stack: Stack) -> None:
    owls = stack.files.upload("owls.txt", OWLS, purpose="assistants")
    moss = stack.files.upload("moss.txt", MOSS, purpose="assistants")
    broken = stack.files.upload("broken.pdf", b"%PDF-1.7\n truncated", purpose="assistants")
    tool = stack.files.upload("tool.exe", b"MZ\x90\x00", purpose="user_data")
    stack.collections.create(
        name="notes",
        files=[FileToAttach(f.id) for f in (owls, moss, broken, tool)],
    )
    stack.worker.run_until_idle()

    for query in ("barn owls", "Barn  Owls", "barn owls", "moss", "zebra stripes"):
        _search(stack, query)
    _search(stack, "zebra stripes", user="user-b")
    _search(stack, "moss", user="user-c", team="team-2")
    stack.analytics.flush()

    day = _today()
    top = stack.analytics.queries(since_day=day, until_day=day)
    assert [(q.query, q.searches, q.users) for q in top] == [
        ("barn owls", 3, 1),
        ("moss", 2, 2),
        ("zebra stripes", 2, 2),
    ]
    barn = top[0]
    assert barn.zero_results == 0
    assert barn.mean_results >= 1
    assert (barn.clicks, barn.click_through, barn.mean_click_rank) == (0, 0.0, None)
    empty = stack.analytics.queries(since_day=day, until_day=day, zero_only=True)
    assert [(q.query, q.zero_results) for q in empty] == [("zebra stripes", 2)]
    mine = stack.analytics.queries(since_day=day, until_day=day, user_ids=["user-b"])
    assert [(q.query, q.searches) for q in mine] == [("zebra stripes", 1)]
    assert stack.analytics.queries(since_day=day, until_day=day, team_ids=["team-2"])[0].query == (
        "moss"
    )
    assert stack.analytics.queries(since_day=day + 1, until_day=day + 2) == []

    ingestion = stack.analytics.ingestion(since_day=day, until_day=day)
    assert ingestion.by_status == {"completed": 2, "failed": 2}
    assert ingestion.failures == {"invalid_file": 1, "unsupported_file": 1}
    [today] = ingestion.days
    assert (today.day, today.files, today.failed) == (day, 4, 2)
    assert today.chunks >= 2
    assert today.median_seconds is not None
    assert (
        stack.analytics.ingestion(since_day=day, until_day=day, team_ids=["nobody"]).by_status == {}
    )


def test_results_opened_give_the_click_through(stack: Stack) -> None:
    for _ in range(4):
        _search(stack, "barn owls")
    opened = {"team_id": "team-1", "user_id": "user-a", "mode": "keyword"}
    # Two of the four result lists had a result opened: one the first result, the other
    # the third and then the first.
    stack.analytics.record_click(query="Barn Owls", rank=1, first=True, **opened)
    stack.analytics.record_click(query="barn owls", rank=3, first=True, **opened)
    stack.analytics.record_click(query="barn owls", rank=1, first=False, **opened)
    # Opened from a list of a query not searched today (the list was yesterday's): no
    # searches to count it against, so it makes no query of its own.
    stack.analytics.record_click(query="moss", rank=2, first=True, **opened)
    stack.analytics.flush()
    [barn] = stack.analytics.queries(since_day=_today(), until_day=_today())
    assert (barn.query, barn.searches, barn.clicks) == ("barn owls", 4, 3)
    assert barn.click_through == 0.5
    assert barn.mean_click_rank == 5 / 3


def test_turned_off_nothing_is_counted(stack: Stack) -> None:
    stack.analytics.record_queries = False
    _search(stack, "barn owls")
    stack.analytics.flush()
    assert stack.analytics.queries(since_day=_today(), until_day=_today()) == []


def test_retention_deletes_old_search_counts_with_the_usage_days(stack: Stack) -> None:
    old = _today() - stack.settings.retention.usage_days - 3
    with stack.db.session(write=True) as session:
        for user in ("u1", "u2"):
            add_counts(
                session,
                stack.db,
                day=old,
                team_id="t",
                user_id=user,
                query="old query",
                mode="hybrid",
                counts=search_counts(0, 0.1),
            )
    _search(stack, "recent query")
    stack.analytics.flush()
    retention: RetentionService = stack.retention
    plan = retention.plan()
    assert [(i.id, i.count) for i in plan.kinds["usage"]] == [(str(old), 2)]
    retention.apply(plan)
    assert stack.analytics.queries(since_day=old, until_day=old) == []
    assert [q.query for q in stack.analytics.queries(since_day=old, until_day=_today())] == [
        "recent query"
    ]
