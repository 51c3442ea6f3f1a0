"""BM25 from postings held in memory (SQLite): the same scores as FTS5's own bm25(), the
same hits as the FTS5 query, and never a stale answer after the index changes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from mmstack.config.settings import IngestSettings, Settings
from mmstack.index import keyword_postings
from mmstack.index.filters import SearchFilter
from mmstack.index.keyword import KeywordHit, SqliteFtsKeywordIndex, query_terms
from mmstack.index.keyword_postings import Bm25Postings, QueryTokenizer
from mmstack.stack import Stack, open_stack

STEMS = [
    "cell", "protein", "gene", "tumor", "immune", "receptor", "signal", "mouse", "dose",
    "blood", "brain", "heart", "liver", "kidney", "virus", "bacteria", "enzyme", "insulin",
    "neuron", "membrane", "infection", "therapy", "mutation", "pathway", "response",
]  # fmt: skip
ENDINGS = ["", "s", "ing", "ed", "al"]


def _corpus(seed: int, files: int) -> dict[str, str]:
    """Texts over a Zipf-like vocabulary with inflected forms (stemming matters), some
    accented words, and lengths from a few words to several hundred tokens (a chunk's
    length takes two bytes in FTS5's docsize table from 128 tokens)."""
    rng = random.Random(seed)
    words = [s + e for s in STEMS for e in ENDINGS] + ["café", "naïve", "résumé"]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    texts = {}
    for n in range(files):
        paragraphs = []
        for _ in range(rng.choice([1, 1, 2, 4])):
            count = rng.choice([4, 12, 40, 160])
            paragraphs.append(" ".join(rng.choices(words, weights, k=count)) + ".")
        texts[f"doc{n:03d}.txt"] = "\n\n".join(paragraphs)
    return texts


def _queries(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pool = [s + e for s in STEMS for e in ENDINGS] + ["Café", "NAIVE", "absent", "the"]
    return [" ".join(rng.sample(pool, rng.randint(1, 6))) for _ in range(count)]


def _sqlite_settings(directory: Path) -> Settings:
    return Settings(
        data_dir=directory / "data",
        ingest=IngestSettings(workers=0, retry_base_seconds=0.01, max_attempts=3),
    )


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    with open_stack(_sqlite_settings(tmp_path)) as opened:
        yield opened


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str, str]]:
    """A stack with a large and a small collection, for the tests that only read."""
    with open_stack(_sqlite_settings(tmp_path_factory.mktemp("corpus"))) as opened:
        big = _ingest(opened, "big", _corpus(1, 100))
        small = _ingest(opened, "small", _corpus(6, 6))
        yield opened, big, small


def _ingest(stack: Stack, name: str, texts: dict[str, str]) -> str:
    collection = stack.collections.create(name).id
    for filename, body in texts.items():
        stack.intake.add_file(collection, filename, body.encode())
    stack.worker.run_until_idle()
    return collection


def _fts5_scores(stack: Stack, query: str) -> dict[int, float]:
    match = " OR ".join(f'"{term}"' for term in query_terms(query))
    with stack.db.session() as session:
        rows = session.execute(
            text("SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH :m"),
            {"m": match},
        )
        return {int(chunk_id): -float(score) for chunk_id, score in rows}


def test_scores_are_those_of_fts5_bm25(corpus: tuple[Stack, str, str]) -> None:
    sqlite_stack = corpus[0]
    with sqlite_stack.db.session() as session:
        longest = session.execute(text("SELECT max(length(sz)) FROM chunks_fts_docsize"))
        assert longest.scalar_one() >= 2  # two-byte lengths are read too
    postings = Bm25Postings(rebuild_share=1.0)
    compared = 0
    for query in _queries(2, 60):
        expected = _fts5_scores(sqlite_stack, query)
        with sqlite_stack.db.session() as session:
            ranked = postings.rank(session, query_terms(query), count=10_000)
        assert ranked is not None
        assert ranked.total == len(expected)
        assert set(ranked.ids.tolist()) == set(expected), query
        for chunk_id, score in zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True):
            assert score == pytest.approx(expected[chunk_id], rel=1e-12, abs=1e-12)
        assert ranked.scores.tolist() == sorted(ranked.scores.tolist(), reverse=True)
        compared += len(expected)
    assert compared > 1000
    postings.close()


def test_a_cut_keeps_the_best(corpus: tuple[Stack, str, str]) -> None:
    sqlite_stack = corpus[0]
    postings = Bm25Postings(rebuild_share=1.0)
    for query in _queries(4, 20):
        expected = sorted(_fts5_scores(sqlite_stack, query).values(), reverse=True)
        with sqlite_stack.db.session() as session:
            ranked = postings.rank(session, query_terms(query), count=7)
        assert ranked is not None
        assert ranked.total == len(expected)
        assert ranked.scores.tolist() == pytest.approx(expected[:7], rel=1e-12)
    postings.close()


def test_hits_match_the_fts5_query_with_and_without_filters(
    corpus: tuple[Stack, str, str],
) -> None:
    sqlite_stack, big, small = corpus
    cached = SqliteFtsKeywordIndex(Bm25Postings(rebuild_share=1.0))
    fts5 = SqliteFtsKeywordIndex()
    filters = [
        None,
        SearchFilter(collection_ids=[big]),
        SearchFilter(collection_ids=[small]),  # keeps few of the best: the narrow path
        SearchFilter(collection_ids=[]),
        SearchFilter(media_types=["text/plain"], created_after=0, collection_ids=[big, small]),
        SearchFilter(tags=["unused"]),
    ]
    for query in _queries(7, 25):
        for flt in filters:
            with sqlite_stack.db.session() as session:
                got = cached.search(session, query, limit=15, flt=flt)
                want = fts5.search(session, query, limit=15, flt=flt)
                every = fts5.search(session, query, limit=10_000, flt=flt)
            assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-12)
            # Equal scores (within rounding) may come in either order.
            assert _untied(got, every) == _untied(want, every)
    cached.close()


def _untied(hits: list[KeywordHit], every: list[KeywordHit]) -> list[int]:
    """The ids of `hits` whose score no other match of the query shares."""
    rounded = [round(h.score, 9) for h in every]
    return [h.id for h in hits if rounded.count(round(h.score, 9)) == 1]


def test_a_change_to_the_index_is_seen_at_once(sqlite_stack: Stack) -> None:
    first = _ingest(sqlite_stack, "first", _corpus(8, 10))
    for share in (1.0, keyword_postings.REBUILD_SHARE):
        postings = Bm25Postings(rebuild_share=share)
        index = SqliteFtsKeywordIndex(postings)
        with sqlite_stack.db.session() as session:
            assert index.search(session, "protein zyzzyva", limit=5)  # postings cached
        added = _ingest(sqlite_stack, f"added-{share}", {"new.txt": "zyzzyva protein beetle"})
        with sqlite_stack.db.session() as session:
            hits = index.search(session, "protein zyzzyva", limit=5)
            ranked = postings.rank(session, ["zyzzyva"], count=5)
        assert hits[0].score == pytest.approx(
            _fts5_scores(sqlite_stack, "zyzzyva protein")[hits[0].id]
        )
        with sqlite_stack.db.session() as session:
            assert (
                session.execute(
                    text("SELECT collection_id FROM chunks WHERE id = :id"), {"id": hits[0].id}
                ).scalar_one()
                == added
            )
        if share == 1.0:
            assert ranked is not None  # rebuilt for the change
            assert len(ranked.ids) == 1
        sqlite_stack.collections.delete(added)
        with sqlite_stack.db.session() as session:
            hits = index.search(session, "zyzzyva", limit=5)
        assert hits == []
        index.close()
    fresh = SqliteFtsKeywordIndex(Bm25Postings())
    with sqlite_stack.db.session() as session:
        assert fresh.search(session, "protein", limit=5, flt=SearchFilter(collection_ids=[first]))
    fresh.close()


def test_while_the_index_keeps_changing_fts5_answers(sqlite_stack: Stack) -> None:
    _ingest(sqlite_stack, "first", _corpus(9, 10))
    postings = Bm25Postings(rebuild_share=1e-9)  # a rebuild then waits for ages
    with sqlite_stack.db.session() as session:
        assert postings.rank(session, ["protein"], count=5) is not None
    _ingest(sqlite_stack, "second", {"more.txt": "protein again"})
    with sqlite_stack.db.session() as session:
        assert postings.rank(session, ["protein"], count=5) is None
    postings.close()


def test_the_cache_is_bounded(
    corpus: tuple[Stack, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_stack = corpus[0]
    monkeypatch.setattr(keyword_postings, "MAX_CACHED_POSTINGS", 50)
    postings = Bm25Postings(rebuild_share=1.0)
    for query in _queries(11, 30):
        with sqlite_stack.db.session() as session:
            ranked = postings.rank(session, query_terms(query), count=10_000)
        assert ranked is not None
        assert set(ranked.ids.tolist()) == set(_fts5_scores(sqlite_stack, query))
        held = postings.cached_postings()
        assert held <= 50 or postings.cached_terms() == 1
    postings.close()


def test_query_words_become_the_index_terms() -> None:
    tokenizer = QueryTokenizer("porter unicode61 remove_diacritics 2")
    assert tokenizer.terms(["Running", "café", "running", "proteins"]) == [
        ("run",),
        ("cafe",),
        ("run",),
        ("protein",),
    ]
    trigrams = QueryTokenizer("trigram")
    assert trigrams.terms(["abcd", "ab"]) == [("abc", "bcd"), ()]
    tokenizer.close()
    trigrams.close()


def test_warming_loads_the_frequent_terms(corpus: tuple[Stack, str, str]) -> None:
    sqlite_stack = corpus[0]
    postings = Bm25Postings(rebuild_share=1.0)
    postings.warm_in_background(sqlite_stack.db.session).join()
    warmed = postings.cached_terms()
    assert warmed > 0
    with sqlite_stack.db.session() as session:
        frequent = session.execute(
            text("SELECT term FROM chunks_fts_terms WHERE doc >= :n"),
            {"n": keyword_postings.WARM_MIN_CHUNKS},
        ).scalars()
        assert warmed == len(list(frequent))
    query = "proteins cell therapy"
    with sqlite_stack.db.session() as session:
        ranked = postings.rank(session, query_terms(query), count=10_000)
    assert ranked is not None
    expected = _fts5_scores(sqlite_stack, query)
    assert ranked.scores.tolist() == pytest.approx(
        [expected[i] for i in ranked.ids.tolist()], rel=1e-12
    )
    postings.close()
