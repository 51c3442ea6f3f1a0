"""A collection moved between installations through one archive (`CollectionArchives`),
on real stacks: SQLite to PostgreSQL, twice into one installation, and the archives that
must be refused without a trace (corrupt, another embedding model, a newer format)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mmstack.arrays import FloatArray
from mmstack.config.settings import IngestSettings, MediaSettings, Settings
from mmstack.errors import ConflictError
from mmstack.index.filters import SearchFilter
from mmstack.index.vector import (
    VectorFilter,
    VectorHit,
    VectorIndex,
    VectorIndexStats,
    VectorPoint,
)
from mmstack.knowledge.archive_format import ArchiveError
from mmstack.knowledge.collection_archive import CollectionArchives
from mmstack.stack import Stack, open_stack
from mmstack.store.models import FileStatus
from tests.documents import PAGE_TEXTS, make_pdf
from tests.models.test_clip import _picture, _tiny_clip
from tests.pictures import encode

OWLS = b"Barn owls hunt voles at night over open meadows."
NOTES = b"# Field notes\n\n## Lighthouse\n\nThe lighthouse keeper logs the tides at dawn.\n"
QUERIES = [
    "corrosion of titanium valves",
    "owls hunting at night",
    "who logs the tides",
    "engineers hired in Lisbon",
]


def _settings(
    tmp_path: Path, name: str, database_url: str | None = None, media: MediaSettings | None = None
) -> Settings:
    """An installation of its own (two stacks open at once need two data directories)."""
    return Settings(
        data_dir=tmp_path / name,
        database_url=database_url,
        ingest=IngestSettings(workers=0, retry_base_seconds=0.01, max_attempts=3),
        media=media or MediaSettings(),
    )


def _archives(stack: Stack, vectors: VectorIndex | None = None) -> CollectionArchives:
    return CollectionArchives(
        stack.db,
        stack.blobs,
        vectors or stack.vectors,
        stack.embedder,
        stack.collections,
        stack.queue,
        pictures=stack.pictures,
    )


def _fill(stack: Stack) -> str:
    """A collection with completed files (tags, attributes), a failed one and a queued one."""
    collection = stack.collections.create(
        "field reports", description="Reports and notes", metadata={"owner": "ops"}
    ).id
    report = stack.intake.add_file(collection, "q1.pdf", make_pdf(PAGE_TEXTS), tags=["finance"])
    stack.intake.add_file(collection, "owls.txt", OWLS, tags=["birds", "night"])
    stack.intake.add_file(collection, "notes.md", NOTES)
    stack.intake.add_file(collection, "blob.bin", b"\x00\x01 not a document")  # refused
    stack.worker.run_until_idle()
    stack.collections.update_file(
        collection, report.collection_file.file_id, {"year": 2026, "kind": "report"}
    )
    stack.intake.add_file(collection, "late.txt", b"Herons nest in tall reeds by the river.")
    return collection


def _files(stack: Stack, collection: str) -> dict[str, tuple[object, ...]]:
    """What must survive the move of each file: its id, state, tags, attributes, bytes and
    chunks (texts and anchors), by file name."""
    files: dict[str, tuple[object, ...]] = {}
    for member in stack.collections.files(collection):
        passages = stack.collections.file_passages(collection, member.file_id)
        files[member.file.filename] = (
            member.file_id,
            member.status,
            member.last_error,
            member.chunk_count,
            member.tags,
            member.attributes,
            member.file.sha256,
            [(p.seq, p.text, p.page_start, p.heading_path, p.char_start) for p in passages],
        )
    return files


def _snapshot(stack: Stack, collection: str) -> tuple[object, ...]:
    info = stack.collections.get(collection)
    c = info.collection
    return (c.name, c.description, c.metadata_, info.chunk_count, _files(stack, collection))


def _results(stack: Stack, collection: str, mode: str | None = None) -> list[list[tuple[str, int]]]:
    """(filename, seq) of the hits of every query in `QUERIES`."""
    flt = SearchFilter(collection_ids=[collection])
    return [
        [(h.filename, h.seq) for h in stack.search.search(q, mode=mode, top_k=5, flt=flt)]  # type: ignore[arg-type]
        for q in QUERIES
    ]


@pytest.mark.postgres
def test_a_collection_moves_from_sqlite_to_postgresql(tmp_path: Path, pg_url: str) -> None:
    archive = tmp_path / "reports.tar.gz"
    with open_stack(_settings(tmp_path, "sqlite")) as source:
        collection = _fill(source)
        before = _snapshot(source, collection)
        searched = {mode: _results(source, collection, mode) for mode in ("vector", "keyword")}
        top = [hits[0] for hits in _results(source, collection)]
        exported = _archives(source).export_collection("field reports", archive)
    assert (exported.files, exported.chunks, exported.vectors) == (5, 6, 6)

    with open_stack(_settings(tmp_path, "postgres", pg_url)) as target:
        assert target.db.dialect == "postgresql"
        imported = _archives(target).import_collection(archive)
        assert (imported.files, imported.chunks, imported.requeued) == (5, 6, 1)
        assert imported.renamed_files == 0  # no file id of the archive is taken here
        after = _snapshot(target, imported.collection_id)
        assert after == before
        assert {m: _results(target, imported.collection_id, m) for m in searched} == searched
        assert [hits[0] for hits in _results(target, imported.collection_id)] == top
        statuses = {m.file.filename: m.status for m in target.collections.files("field reports")}
        assert statuses["late.txt"] == FileStatus.QUEUED
        assert statuses["blob.bin"] == FileStatus.FAILED
        target.worker.run_until_idle()  # the queued file was given its ingestion job
        late = target.store_search.search(imported.collection_id, ["herons nesting in reeds"])
        assert late[0].hit.filename == "late.txt"
        assert target.vectors.stats().points == 7


def test_importing_twice_makes_two_independent_collections(stack: Stack, tmp_path: Path) -> None:
    collection = _fill(stack)
    stack.worker.run_until_idle()
    archive = tmp_path / "reports.tar"
    _archives(stack).export_collection(collection, archive)
    points = stack.vectors.stats().points

    with pytest.raises(ConflictError, match="already exists"):
        _archives(stack).import_collection(archive)  # the name is taken here
    first = _archives(stack).import_collection(archive, name="copy one")
    second = _archives(stack).import_collection(archive, name="copy two")

    assert stack.vectors.stats().points == 3 * points
    assert first.renamed_files == second.renamed_files == 5  # their ids are taken here
    ids = [
        {m.file_id for m in stack.collections.files(c)}
        for c in (collection, "copy one", "copy two")
    ]
    assert len(ids[0] | ids[1] | ids[2]) == 3 * 5
    original = {name: f[1:] for name, f in _files(stack, collection).items()}
    for copy in (first, second):
        assert {name: f[1:] for name, f in _files(stack, copy.collection_id).items()} == original
    stack.collections.delete(first.collection_id)
    hits = stack.store_search.search(second.collection_id, ["corrosion of titanium valves"])
    assert hits[0].hit.filename == "q1.pdf"
    assert (
        stack.store_search.search(collection, ["owls hunting voles"])[0].hit.filename == "owls.txt"
    )
    assert stack.vectors.stats().points == 2 * points


def _state(stack: Stack) -> tuple[object, ...]:
    infos = stack.collections.list_all()
    blobs = sorted(p.name for p in (stack.settings.data_dir / "blobs").rglob("*") if p.is_file())
    return (
        [(i.id, i.file_counts.total, i.chunk_count) for i in infos],
        stack.vectors.stats().points,
        blobs,
    )


def _rewrite(archive: Path, out: Path, change: dict[str, object]) -> None:
    """A copy of the archive whose manifest has `change` applied (its members as they are)."""
    with tarfile.open(archive) as source, tarfile.open(out, "w") as copy:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps({**json.loads(data), **change}).encode()
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data))


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """An uncompressed archive of a small collection, made on an installation of its own."""
    archive = tmp_path / "small.tar"
    with open_stack(_settings(tmp_path, "elsewhere")) as other:
        collection = other.collections.create("small").id
        other.intake.add_file(collection, "owls.txt", OWLS, tags=["birds"])
        other.intake.add_file(collection, "notes.md", NOTES)
        other.worker.run_until_idle()
        _archives(other).export_collection(collection, archive)
    return archive


@pytest.mark.parametrize("member", ["chunks.jsonl", "vectors.npy", "blob"])
def test_a_corrupt_archive_is_refused_naming_the_member(
    stack: Stack, exported: Path, member: str
) -> None:
    stack.collections.create("already here")
    with tarfile.open(exported) as archive:
        found = next(
            m
            for m in archive.getmembers()
            if m.name == member or (member == "blob" and m.name.startswith("blobs/"))
        )
    data = bytearray(exported.read_bytes())
    data[found.offset_data + found.size // 2] ^= 0x01
    exported.write_bytes(bytes(data))
    before = _state(stack)

    with pytest.raises(ArchiveError, match=f"member '{found.name}' is corrupt"):
        _archives(stack).import_collection(exported)
    assert _state(stack) == before


def test_an_archive_of_another_model_or_a_newer_format_is_refused(
    stack: Stack, exported: Path, tmp_path: Path
) -> None:
    before = _state(stack)
    other_model = tmp_path / "other-model.tar"
    _rewrite(exported, other_model, {"embedding": {"model": "acme/embedder", "dimension": 768}})
    with pytest.raises(ArchiveError, match=r"made by acme/embedder \(768 dimensions\)") as refused:
        _archives(stack).import_collection(other_model)
    assert stack.embedder.model_id in refused.value.message
    newer = tmp_path / "newer.tar"
    _rewrite(exported, newer, {"format_version": 2})
    with pytest.raises(ArchiveError, match="format version 2"):
        _archives(stack).import_collection(newer)
    not_an_archive = tmp_path / "notes.tar"
    not_an_archive.write_bytes(NOTES)
    with pytest.raises(ArchiveError, match="not a readable collection archive"):
        _archives(stack).import_collection(not_an_archive)
    assert _state(stack) == before


class _FailingUpserts:
    """The stack's vector index, refusing writes: as a vector server that went away."""

    def __init__(self, inner: VectorIndex) -> None:
        self._inner = inner

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        raise ConnectionError("vector server unreachable")

    def delete(self, ids: Sequence[int]) -> None:
        self._inner.delete(ids)

    def delete_where(self, flt: VectorFilter) -> None:
        self._inner.delete_where(flt)

    def search(
        self, vector: FloatArray, *, limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        return self._inner.search(vector, limit=limit, flt=flt)

    def iter_ids(self) -> Iterator[int]:
        return self._inner.iter_ids()

    def iter_vectors(self) -> Iterator[tuple[int, FloatArray]]:
        return self._inner.iter_vectors()

    def stats(self) -> VectorIndexStats:
        return self._inner.stats()

    def optimize(self) -> None:
        self._inner.optimize()

    def close(self) -> None:
        self._inner.close()


def test_a_failed_vector_write_leaves_no_collection(stack: Stack, exported: Path) -> None:
    before = _state(stack)
    with pytest.raises(ConnectionError):
        _archives(stack, _FailingUpserts(stack.vectors)).import_collection(exported)
    assert _state(stack) == before


def test_pictures_travel_with_their_images_and_are_indexed_again(tmp_path: Path) -> None:
    clip = _tiny_clip(tmp_path / "clip")
    media = MediaSettings(ocr=False, clip_model_dir=clip)
    archive = tmp_path / "photos.tgz"
    with open_stack(_settings(tmp_path, "a", media=media)) as source:
        collection = source.collections.create("photos").id
        picture = encode(_picture("red", "circle"), "PNG")
        source.intake.add_file(collection, "red.png", picture)
        source.worker.run_until_idle()
        (member,) = source.collections.files(collection)
        assert member.status == FileStatus.COMPLETED
        assert member.file.thumbnail
        _archives(source).export_collection(collection, archive)
        thumbnail = member.file.thumbnail
    with open_stack(_settings(tmp_path, "b", media=media)) as target:
        imported = _archives(target).import_collection(archive)
        assert target.blobs.exists(thumbnail)
        assert target.pictures is not None
        assert len(list(target.pictures.index.iter_ids())) == 1
        flt = SearchFilter(collection_ids=[imported.collection_id])
        hits = target.search.search("red circle picture", mode="vector", top_k=3, flt=flt)
        assert [h.filename for h in hits] == ["red.png"]
        assert "image" in hits[0].ranks
