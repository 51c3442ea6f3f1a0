"""One contract for every `VectorIndex` adapter: the embedded Qdrant Edge shard (on a
temporary directory) and the Qdrant server adapter (against qdrant-client's local mode).

Results are checked against a brute-force cosine search in numpy over the same points; on a
few hundred points both engines scan exhaustively, so the answers must agree exactly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from mmstack.arrays import FloatArray
from mmstack.index.vector import (
    VectorFilter,
    VectorIndex,
    VectorPayload,
    VectorPoint,
)
from mmstack.index.vector_edge import EdgeVectorIndex
from mmstack.index.vector_qdrant import QdrantServerVectorIndex

DIM = 48
N = 300
COLLECTIONS = ("c0", "c1", "c2")
MEDIA = ("text", "pdf", "image")
TAGS = ("red", "green", "blue", "gold")
T0 = 1_700_000_000


def unit_vectors(n: int, seed: int, dim: int = DIM) -> FloatArray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    normalized: FloatArray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return normalized


def make_points(n: int = N, seed: int = 7, first_id: int = 1) -> list[VectorPoint]:
    rng = np.random.default_rng(seed + 1)
    vectors = unit_vectors(n, seed)
    points = []
    for i in range(n):
        tag_count = int(rng.integers(0, 3))
        tags = tuple(str(t) for t in rng.choice(TAGS, size=tag_count, replace=False))
        payload = VectorPayload(
            collection_id=COLLECTIONS[int(rng.integers(len(COLLECTIONS)))],
            file_id=f"f{int(rng.integers(40))}",
            media_type=MEDIA[int(rng.integers(len(MEDIA)))],
            created_at=T0 + int(rng.integers(0, 1000)),
            tags=tags,
        )
        points.append(VectorPoint(id=first_id + i, vector=vectors[i], payload=payload))
    return points


def matches(payload: VectorPayload, flt: VectorFilter | None) -> bool:
    """The filter semantics the interface documents, written out plainly."""
    if flt is None:
        return True
    return (
        (flt.collection_ids is None or payload.collection_id in flt.collection_ids)
        and (flt.file_ids is None or payload.file_id in flt.file_ids)
        and (flt.media_types is None or payload.media_type in flt.media_types)
        and (flt.tags is None or any(t in flt.tags for t in payload.tags))
        and (flt.created_after is None or payload.created_at >= flt.created_after)
        and (flt.created_before is None or payload.created_at < flt.created_before)
    )


def brute_force(
    points: Sequence[VectorPoint], query: FloatArray, limit: int, flt: VectorFilter | None = None
) -> list[tuple[int, float]]:
    candidates = [p for p in points if matches(p.payload, flt)]
    scored = [(p.id, float(np.dot(p.vector, query))) for p in candidates]
    return sorted(scored, key=lambda s: -s[1])[:limit]


class Backend:
    """Opens indexes of one adapter on the same storage, so reopening can be tested."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.path = tmp_path / "vectors"
        self._client = QdrantClient(":memory:") if name == "qdrant" else None
        self._opened: list[VectorIndex] = []

    def open(self, dimension: int = DIM) -> VectorIndex:
        index: VectorIndex
        if self._client is None:
            index = EdgeVectorIndex(self.path, dimension)
        else:
            with warnings.catch_warnings():
                # Local mode ignores payload indexes and says so; a server uses them.
                warnings.filterwarnings("ignore", "Payload indexes have no effect")
                index = QdrantServerVectorIndex(self._client, "chunks", dimension)
        self._opened.append(index)
        return index

    def reopen(self, index: VectorIndex, dimension: int = DIM) -> VectorIndex:
        if self._client is None:
            index.close()  # the shard directory is single-owner
        return self.open(dimension)

    def close_all(self) -> None:
        for index in self._opened:
            index.close()


@pytest.fixture(params=["edge", "qdrant"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = Backend(request.param, tmp_path)
    yield b
    b.close_all()


@pytest.fixture
def points() -> list[VectorPoint]:
    return make_points()


@pytest.fixture
def index(backend: Backend, points: list[VectorPoint]) -> VectorIndex:
    idx = backend.open()
    idx.upsert(points)
    return idx


def hit_ids(
    index: VectorIndex, query: FloatArray, limit: int, flt: VectorFilter | None = None
) -> list[int]:
    return [h.id for h in index.search(query, limit=limit, flt=flt)]


# --- writes and plain search ---------------------------------------------------------------


def test_search_right_after_upsert_finds_the_point_itself(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    for p in points[::37]:
        hits = index.search(p.vector, limit=5)
        assert hits[0].id == p.id
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_agrees_with_brute_force(index: VectorIndex, points: list[VectorPoint]) -> None:
    for query in unit_vectors(5, seed=99):
        expected = brute_force(points, query, 10)
        hits = index.search(query, limit=10)
        assert [h.id for h in hits] == [i for i, _ in expected]
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-5)


def test_limit_larger_than_index_returns_every_point(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    assert sorted(hit_ids(index, points[0].vector, N + 50)) == [p.id for p in points]


def test_empty_index(backend: Backend) -> None:
    idx = backend.open()
    assert idx.search(unit_vectors(1, seed=1)[0], limit=5) == []
    assert list(idx.iter_ids()) == []
    assert idx.stats().points == 0


def test_upsert_of_an_existing_id_replaces_vector_and_payload(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    old = points[10]
    new_collection = next(c for c in COLLECTIONS if c != old.payload.collection_id)
    new_vector = unit_vectors(1, seed=1234)[0]
    replacement = VectorPoint(
        id=old.id,
        vector=new_vector,
        payload=VectorPayload(
            collection_id=new_collection,
            file_id="replaced",
            media_type="audio",
            created_at=T0 - 5,
            tags=("new",),
        ),
    )
    index.upsert([replacement])

    assert index.stats().points == N
    first = index.search(new_vector, limit=1)[0]
    assert first.id == old.id
    assert first.score == pytest.approx(1.0, abs=1e-5)
    assert old.id not in hit_ids(index, old.vector, 1)
    assert hit_ids(index, new_vector, N, VectorFilter(file_ids=["replaced"])) == [old.id]
    for flt in (
        VectorFilter(collection_ids=[old.payload.collection_id]),
        VectorFilter(file_ids=[old.payload.file_id]),
        VectorFilter(media_types=[old.payload.media_type]),
    ):
        assert old.id not in hit_ids(index, new_vector, N, flt)
    for flt in (
        VectorFilter(collection_ids=[new_collection]),
        VectorFilter(media_types=["audio"]),
        VectorFilter(tags=["new"]),
        VectorFilter(created_before=T0),
    ):
        assert hit_ids(index, new_vector, 1, flt) == [old.id]


def test_upsert_rejects_a_vector_of_the_wrong_dimension(index: VectorIndex) -> None:
    bad = make_points(1, seed=3, first_id=10_000)[0]
    short = VectorPoint(id=bad.id, vector=bad.vector[: DIM - 1], payload=bad.payload)
    with pytest.raises(ValueError, match="shape"):
        index.upsert([short])
    with pytest.raises(ValueError, match="shape"):
        index.search(bad.vector[: DIM - 1], limit=3)
    assert index.stats().points == N


def test_delete(index: VectorIndex, points: list[VectorPoint]) -> None:
    gone = [p.id for p in points[:20]]
    index.delete(gone)

    assert index.stats().points == N - 20
    assert set(index.iter_ids()) == {p.id for p in points[20:]}
    for p in points[:20:5]:
        assert p.id not in hit_ids(index, p.vector, 5)


def test_delete_of_unknown_ids_is_a_noop(index: VectorIndex, points: list[VectorPoint]) -> None:
    index.delete([10**9, 10**9 + 1])
    index.delete([])
    index.delete([points[0].id, 10**9 + 2])  # mixed: the known one goes

    assert set(index.iter_ids()) == {p.id for p in points[1:]}


def test_delete_where_removes_a_collection(index: VectorIndex, points: list[VectorPoint]) -> None:
    index.delete_where(VectorFilter(collection_ids=["c1"]))

    kept = {p.id for p in points if p.payload.collection_id != "c1"}
    assert len(kept) < N
    assert set(index.iter_ids()) == kept
    assert index.search(points[0].vector, limit=5, flt=VectorFilter(collection_ids=["c1"])) == []


def test_delete_where_with_combined_filter(index: VectorIndex, points: list[VectorPoint]) -> None:
    flt = VectorFilter(collection_ids=["c0"], media_types=["pdf"])
    index.delete_where(flt)

    assert set(index.iter_ids()) == {p.id for p in points if not matches(p.payload, flt)}


def test_delete_where_refuses_an_empty_filter(index: VectorIndex) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        index.delete_where(VectorFilter())
    index.delete_where(VectorFilter(collection_ids=[]))  # matches nothing
    assert index.stats().points == N


# --- filters -------------------------------------------------------------------------------

FILTERS = {
    "collection": VectorFilter(collection_ids=["c2"]),
    "collections any-of": VectorFilter(collection_ids=["c0", "c2"]),
    "file": VectorFilter(file_ids=["f3"]),
    "files any-of": VectorFilter(file_ids=["f3", "f17", "f39"]),
    "media": VectorFilter(media_types=["image"]),
    "media any-of": VectorFilter(media_types=["pdf", "text"]),
    "tag": VectorFilter(tags=["gold"]),
    "tags any-of": VectorFilter(tags=["red", "blue"]),
    "created after": VectorFilter(created_after=T0 + 700),
    "created before": VectorFilter(created_before=T0 + 300),
    "created window": VectorFilter(created_after=T0 + 250, created_before=T0 + 500),
    "unknown value": VectorFilter(collection_ids=["nope"]),
    "collection + media + tags": VectorFilter(
        collection_ids=["c1"], media_types=["text", "image"], tags=["green", "gold"]
    ),
    "everything": VectorFilter(
        collection_ids=["c0", "c1"],
        file_ids=[f"f{i}" for i in range(0, 40, 2)],
        media_types=["text", "pdf"],
        tags=["red", "green", "blue"],
        created_after=T0 + 100,
        created_before=T0 + 900,
    ),
    "no field set": VectorFilter(),
}


@pytest.mark.parametrize("flt", FILTERS.values(), ids=FILTERS.keys())
def test_filter(index: VectorIndex, points: list[VectorPoint], flt: VectorFilter) -> None:
    expected = {p.id for p in points if matches(p.payload, flt)}
    assert set(hit_ids(index, points[0].vector, N, flt)) == expected
    for query in unit_vectors(3, seed=5):
        top = index.search(query, limit=7, flt=flt)
        assert [h.id for h in top] == [i for i, _ in brute_force(points, query, 7, flt)]


def test_every_filter_case_is_selective(points: list[VectorPoint]) -> None:
    """Guards the data: a filter matching all or none of it would test nothing."""
    for name, flt in FILTERS.items():
        count = sum(matches(p.payload, flt) for p in points)
        if name == "unknown value":
            assert count == 0
        elif name == "no field set":
            assert count == N
        else:
            assert 0 < count < N, name


def test_created_bounds_are_inclusive_after_and_exclusive_before(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    p = points[42]
    at = p.payload.created_at
    query = p.vector
    assert p.id in hit_ids(index, query, N, VectorFilter(created_after=at))
    assert p.id not in hit_ids(index, query, N, VectorFilter(created_after=at + 1))
    assert p.id not in hit_ids(index, query, N, VectorFilter(created_before=at))
    assert p.id in hit_ids(index, query, N, VectorFilter(created_before=at + 1))
    exact = hit_ids(index, query, N, VectorFilter(created_after=at, created_before=at + 1))
    assert p.id in exact
    assert all(q.payload.created_at == at for q in points if q.id in exact)


def test_points_without_tags_never_match_a_tag_filter(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    untagged = {p.id for p in points if not p.payload.tags}
    assert untagged
    assert not untagged & set(hit_ids(index, points[0].vector, N, VectorFilter(tags=list(TAGS))))


def test_an_empty_any_of_list_matches_nothing(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    for flt in (
        VectorFilter(collection_ids=[]),
        VectorFilter(file_ids=[]),
        VectorFilter(media_types=[]),
        VectorFilter(tags=[]),
        VectorFilter(collection_ids=["c0"], tags=[]),
    ):
        assert index.search(points[0].vector, limit=5, flt=flt) == []


# --- enumeration, stats, optimize, reopen --------------------------------------------------


def test_iter_ids_returns_exactly_the_stored_ids_across_pages(backend: Backend) -> None:
    idx = backend.open()
    many = make_points(2500, seed=11, first_id=5)  # more than two scroll pages
    idx.upsert(many[:1500])
    idx.upsert(many[1500:])
    idx.delete([many[7].id, many[2000].id])

    ids = list(idx.iter_ids())
    assert len(ids) == len(set(ids)) == 2498
    assert set(ids) == {p.id for p in many} - {many[7].id, many[2000].id}


def test_stats(index: VectorIndex, points: list[VectorPoint]) -> None:
    stats = index.stats()
    assert stats.points == N
    assert 0 <= stats.indexed <= N
    assert stats.extra["segments"] >= 1
    index.delete([p.id for p in points[:5]])
    assert index.stats().points == N - 5


def test_optimize_keeps_results(index: VectorIndex, points: list[VectorPoint]) -> None:
    query = unit_vectors(1, seed=8)[0]
    flt = FILTERS["collection + media + tags"]
    before = hit_ids(index, query, 10, flt)
    index.optimize()
    assert hit_ids(index, query, 10, flt) == before
    assert index.stats().points == N
    extra = make_points(10, seed=12, first_id=10_000)
    index.upsert(extra)
    assert hit_ids(index, extra[3].vector, 1) == [extra[3].id]


def test_reopen_keeps_points_and_payloads(backend: Backend, points: list[VectorPoint]) -> None:
    idx = backend.open()
    idx.upsert(points)
    idx.delete([points[0].id])
    idx = backend.reopen(idx)

    assert set(idx.iter_ids()) == {p.id for p in points[1:]}
    assert idx.dimension == DIM
    flt = FILTERS["everything"]
    query = points[5].vector
    assert hit_ids(idx, query, 10, flt) == [i for i, _ in brute_force(points[1:], query, 10, flt)]


def test_reopen_with_another_dimension_raises(backend: Backend, points: list[VectorPoint]) -> None:
    idx = backend.open()
    idx.upsert(points[:10])
    with pytest.raises(ValueError, match="dimension"):
        backend.reopen(idx, dimension=DIM + 1)
    assert backend.reopen(idx).stats().points == 10


# --- edge only -----------------------------------------------------------------------------


def test_edge_concurrent_searches_during_writes(tmp_path: Path) -> None:
    idx = EdgeVectorIndex(tmp_path / "vectors", DIM)
    base = make_points(200, seed=21)
    idx.upsert(base)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher(seed: int) -> None:
        queries = unit_vectors(20, seed=seed)
        try:
            while not stop.is_set():
                for q in queries:
                    assert len(idx.search(q, limit=5, flt=VectorFilter(tags=["red"]))) == 5
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        extra = make_points(400, seed=22, first_id=1000)
        for i in range(0, len(extra), 20):
            idx.upsert(extra[i : i + 20])
            idx.delete([extra[i].id])
    finally:
        stop.set()
        for t in threads:
            t.join()
        idx.close()

    assert errors == []
    idx = EdgeVectorIndex(tmp_path / "vectors", DIM)
    expected = {p.id for p in base} | ({p.id for p in extra} - {p.id for p in extra[::20]})
    assert set(idx.iter_ids()) == expected
    idx.close()


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path[:0] = [{root!r}]
    from tests.index.test_vector_index import make_points
    from mmstack.index.vector_edge import EdgeVectorIndex

    index = EdgeVectorIndex(Path({path!r}), {dim})
    points = make_points()
    index.upsert(points[:150])
    index.delete([points[0].id])
    index.upsert(points[150:])
    print("written", flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow
def test_edge_writes_survive_sigkill_right_after_upsert(
    tmp_path: Path, points: list[VectorPoint]
) -> None:
    path = tmp_path / "vectors"
    script = _KILLED_WRITER.format(root=str(Path(__file__).parents[2]), path=str(path), dim=DIM)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    idx = EdgeVectorIndex(path, DIM)
    try:
        assert set(idx.iter_ids()) == {p.id for p in points[1:]}
        flt = FILTERS["collection + media + tags"]
        query = points[9].vector
        assert hit_ids(idx, query, 5, flt) == [i for i, _ in brute_force(points[1:], query, 5, flt)]
    finally:
        idx.close()


def test_iter_vectors_gives_back_every_stored_vector(
    index: VectorIndex, points: list[VectorPoint]
) -> None:
    stored = dict(index.iter_vectors())
    assert sorted(stored) == sorted(p.id for p in points)
    for point in points:
        np.testing.assert_allclose(stored[point.id], point.vector, rtol=1e-5, atol=1e-6)
        assert stored[point.id].dtype == np.float32
