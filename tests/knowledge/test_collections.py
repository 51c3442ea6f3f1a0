"""The services behind the OpenAI surface on a real stack (SQLite and PostgreSQL): standalone
files, vector stores, file batches, store search, pagination."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mmstack.errors import ConflictError, InvalidRequestError, NotFoundError
from mmstack.index.attribute_filter import Comparison, Compound
from mmstack.knowledge.members import FileToAttach
from mmstack.knowledge.uploads import FileTooLargeError
from mmstack.stack import Stack
from mmstack.store.file_states import state_of
from mmstack.store.models import Chunk, Job
from mmstack.store.pagination import PageRequest
from tests.documents import PAGE_TEXTS, make_pdf

OWLS = b"Barn owls hunt voles at night over open meadows."
CORROSION = "corrosion of titanium valves at the desalination plant"


def _chunks_of(stack: Stack, file_id: str) -> int:
    with stack.db.session() as session:
        stmt = select(func.count()).select_from(Chunk).where(Chunk.file_id == file_id)
        return session.scalar(stmt) or 0


def _files(stack: Stack, store_id: str) -> set[str]:
    return {m.file_id for m in stack.collections.file_page(store_id, PageRequest(limit=100)).items}


def test_deleting_a_file_removes_it_from_every_vector_store(stack: Stack) -> None:
    report = stack.files.upload("q1.pdf", make_pdf(PAGE_TEXTS), purpose="assistants")
    owls = stack.files.upload("owls.txt", OWLS, purpose="user_data")
    a = stack.collections.create(name="a", files=[FileToAttach(report.id)]).collection.id
    b = stack.collections.create(
        name="b", files=[FileToAttach(report.id), FileToAttach(owls.id)]
    ).collection.id
    assert stack.collections.get(a).status == "in_progress"
    stack.worker.run_until_idle()
    assert stack.collections.get(a).status == "completed"
    for store in (a, b):
        assert stack.store_search.search(store, [CORROSION])[0].hit.file_id == report.id
    points = stack.vectors.stats().points

    stack.files.delete(report.id)

    assert _chunks_of(stack, report.id) == 0
    assert stack.vectors.stats().points == points - 2 * 4  # 4 pages, in two stores
    assert not stack.blobs.exists(report.sha256)
    for store in (a, b):
        assert all(
            h.hit.file_id != report.id for h in stack.store_search.search(store, [CORROSION])
        )
        assert report.id not in _files(stack, store)
    assert stack.store_search.search(b, ["owls hunting voles"])[0].hit.file_id == owls.id
    with pytest.raises(NotFoundError):
        stack.files.get(report.id)
    with pytest.raises(NotFoundError):
        stack.collections.file(a, report.id)


def test_deleting_a_store_keeps_standalone_files_but_not_its_own_uploads(stack: Stack) -> None:
    standalone = stack.files.upload("owls.txt", OWLS, purpose="assistants")
    store = stack.collections.create(name="s", files=[FileToAttach(standalone.id)])
    store_id = store.collection.id
    uploaded = stack.intake.add_file(store_id, "notes.txt", b"Moss grows on the north side.")
    stack.worker.run_until_idle()
    own_id, own_sha = uploaded.collection_file.file_id, uploaded.collection_file.file.sha256

    assert stack.collections.delete(store_id) == store_id

    assert stack.files.get(standalone.id).filename == "owls.txt"
    assert stack.files.content(standalone.id)[1].read() == OWLS
    assert _chunks_of(stack, standalone.id) == 0
    with pytest.raises(NotFoundError):
        stack.files.get(own_id)  # uploaded straight into the collection: went with it
    assert not stack.blobs.exists(own_sha)
    assert stack.vectors.stats().points == 0
    with pytest.raises(NotFoundError):
        stack.collections.get(store_id)


def test_detaching_keeps_a_standalone_file(stack: Stack) -> None:
    owls = stack.files.upload("owls.txt", OWLS, purpose="assistants")
    store = stack.collections.create(name="s", files=[FileToAttach(owls.id)]).collection.id
    stack.worker.run_until_idle()
    stack.collections.delete_file(store, owls.id)
    assert _files(stack, store) == set()
    assert stack.files.get(owls.id).id == owls.id
    assert stack.blobs.exists(owls.sha256)
    assert stack.vectors.stats().points == 0


def test_same_bytes_uploaded_twice_are_two_files_but_one_collection_upload(stack: Stack) -> None:
    first = stack.files.upload("owls.txt", OWLS, purpose="assistants")
    second = stack.files.upload("owls-again.txt", OWLS, purpose="assistants")
    assert first.id != second.id
    store = stack.collections.create(
        name="s", files=[FileToAttach(first.id), FileToAttach(second.id)]
    ).collection.id
    assert _files(stack, store) == {first.id, second.id}
    again = stack.collections.attach(store, first.id, attributes={"kind": "bird"})
    assert again.attributes == {"kind": "bird"}
    assert len(_files(stack, store)) == 2
    # Uploads straight into the collection still count the same bytes once.
    one = stack.intake.add_file(store, "a.txt", b"Same bytes.")
    assert not stack.intake.add_file(store, "b.txt", b"Same bytes.").created
    assert one.created
    stack.files.delete(first.id)
    assert stack.blobs.exists(first.sha256)  # the second file has the same bytes


def test_file_batches_and_cancel(stack: Stack) -> None:
    ids = [
        stack.files.upload(f"n{i}.txt", f"Note {i} about herons.".encode(), purpose="assistants").id
        for i in range(3)
    ]
    store = stack.collections.create(name="s").collection.id
    done = stack.file_batches.create(
        store, [FileToAttach(ids[0], {"n": 0}), FileToAttach(ids[1], {"n": 1})]
    )
    assert (done.status, done.file_counts.waiting_or_running) == ("in_progress", 2)
    stack.worker.run_until_idle()
    done = stack.file_batches.get(store, done.batch.id)
    assert (done.status, done.file_counts.completed, done.file_counts.total) == ("completed", 2, 2)

    waiting = stack.file_batches.create(store, [FileToAttach(ids[1]), FileToAttach(ids[2])])
    cancelled = stack.file_batches.cancel(store, waiting.batch.id)
    # ids[1] is already completed (it was in the first batch); ids[2] had not started.
    assert cancelled.status == "cancelled"
    assert (cancelled.file_counts.completed, cancelled.file_counts.cancelled) == (1, 1)
    stack.worker.run_until_idle()
    member = stack.collections.file(store, ids[2])
    assert state_of(member) == "cancelled"
    assert _chunks_of(stack, ids[2]) == 0
    with stack.db.session() as session:
        assert session.scalar(select(func.count()).where(Job.collection_file_id == member.id)) == 0
    listed = stack.file_batches.files(store, waiting.batch.id, PageRequest(), state="cancelled")
    assert [m.file_id for m in listed.items] == [ids[2]]

    stack.intake.retry_file(store, ids[2])  # a cancelled file can be queued again
    stack.worker.run_until_idle()
    assert state_of(stack.collections.file(store, ids[2])) == "completed"
    other = stack.collections.create(name="other").collection.id
    with pytest.raises(NotFoundError):
        stack.file_batches.get(other, done.batch.id)
    with pytest.raises(InvalidRequestError):
        stack.file_batches.create(store, [])


def test_unknown_file_fails_the_whole_attachment(stack: Stack) -> None:
    owls = stack.files.upload("owls.txt", OWLS, purpose="assistants")
    with pytest.raises(NotFoundError, match="file-nope"):
        stack.collections.create(name="s", files=[FileToAttach(owls.id), FileToAttach("file-nope")])
    with pytest.raises(NotFoundError):
        stack.collections.get("s")  # nothing was created
    store = stack.collections.create(name="s").collection.id
    with pytest.raises(NotFoundError):
        stack.file_batches.create(store, [FileToAttach(owls.id), FileToAttach("file-nope")])
    assert _files(stack, store) == set()


def test_unsupported_and_broken_files_fail_with_codes(stack: Stack) -> None:
    tool = stack.files.upload("tool.exe", b"MZ\x90\x00", purpose="user_data")
    broken = stack.files.upload("broken.pdf", b"%PDF-1.7\n truncated", purpose="assistants")
    store = stack.collections.create(
        name="s", files=[FileToAttach(tool.id), FileToAttach(broken.id)]
    ).collection.id
    assert state_of(stack.collections.file(store, tool.id)) == "failed"  # at once
    stack.worker.run_until_idle()
    codes = {
        m.file_id: m.error_code
        for m in stack.collections.file_page(store, PageRequest(), state="failed").items
    }
    assert codes == {tool.id: "unsupported_file", broken.id: "invalid_file"}
    info = stack.collections.get(store)
    assert (info.file_counts.failed, info.status) == (2, "completed")


def test_upload_limits(stack: Stack) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        stack.files.upload("empty.txt", b"", purpose="assistants")
    with pytest.raises(InvalidRequestError, match="purpose"):
        stack.files.upload("a.txt", b"a", purpose="nonsense")
    limit = stack.settings.ingest.max_file_bytes
    with pytest.raises(FileTooLargeError, match="over the limit"):
        stack.files.upload("big.txt", b"x" * (limit + 1), purpose="assistants")


def test_pagination(stack: Stack) -> None:
    ids = [stack.files.upload(f"f{i}.txt", b"%d" % i, purpose="assistants").id for i in range(5)]
    everything = [f.id for f in stack.files.list(PageRequest(limit=100, order="asc")).items]
    assert sorted(everything) == sorted(ids)
    pages, after = [], None
    while True:
        page = stack.files.list(PageRequest(limit=2, order="asc", after=after))
        pages.append([f.id for f in page.items])
        if not page.has_more:
            break
        after = page.items[-1].id
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [f for p in pages for f in p] == everything
    desc = [f.id for f in stack.files.list(PageRequest(limit=100)).items]
    assert desc == everything[::-1]
    before = stack.files.list(PageRequest(limit=2, order="asc", before=everything[3]))
    assert [f.id for f in before.items] == everything[1:3]
    assert before.has_more
    assert stack.files.list(PageRequest(), purpose="batch").items == []
    with pytest.raises(NotFoundError, match="cursor"):
        stack.files.list(PageRequest(after="file-nope"))

    stores = {stack.collections.create(name=f"s{i}").collection.id for i in range(3)}
    in_order = [
        i.collection.id for i in stack.collections.list_page(PageRequest(order="asc")).items
    ]
    assert set(in_order) == stores
    first = stack.collections.list_page(PageRequest(limit=2, order="asc"))
    rest = stack.collections.list_page(
        PageRequest(limit=2, order="asc", after=first.items[-1].collection.id)
    )
    assert (first.has_more, rest.has_more) == (True, False)
    assert [i.collection.id for i in first.items + rest.items] == in_order


def test_store_names_metadata_and_update(stack: Stack) -> None:
    unnamed = stack.collections.create()
    assert unnamed.collection.name == unnamed.collection.id
    store = stack.collections.create(name="docs", metadata={"team": "ops"}).collection.id
    with pytest.raises(ConflictError):
        stack.collections.create(name="docs")
    updated = stack.collections.update(store, name="handbook", metadata={"team": "hr"})
    assert (updated.collection.name, updated.collection.metadata_) == ("handbook", {"team": "hr"})
    kept = stack.collections.update(store)
    assert (kept.collection.name, kept.collection.metadata_) == ("handbook", {"team": "hr"})
    with pytest.raises(ConflictError):
        stack.collections.update(store, name=unnamed.collection.name)
    assert stack.collections.get("handbook").collection.id == store  # the native view agrees


def test_search_with_attribute_filters_and_file_text(stack: Stack) -> None:
    docs = {
        "owls.txt": (OWLS, {"kind": "bird", "year": 2021}),
        "herons.txt": (b"Grey herons hunt fish in shallow rivers.", {"kind": "bird", "year": 2024}),
        "voles.txt": (b"Field voles dig tunnels under the meadow grass.", {"kind": "mammal"}),
    }
    store = stack.collections.create(name="animals").collection.id
    ids = {}
    for name, (data, attributes) in docs.items():
        ids[name] = stack.files.upload(name, data, purpose="assistants").id
        stack.collections.attach(store, ids[name], attributes=attributes)  # type: ignore[arg-type]
    stack.worker.run_until_idle()

    def found(flt: Comparison | Compound | None, query: str = "hunting animals") -> set[str]:
        return {h.hit.file_id for h in stack.store_search.search(store, [query], flt=flt)}

    assert found(None) == set(ids.values())
    assert found(Comparison("kind", "eq", "bird")) == {ids["owls.txt"], ids["herons.txt"]}
    assert found(Comparison("year", "gte", 2022)) == {ids["herons.txt"]}
    assert found(Comparison("year", "ne", 2021)) == {ids["herons.txt"], ids["voles.txt"]}
    either = Compound("or", [Comparison("kind", "eq", "mammal"), Comparison("year", "lt", 2022)])
    assert found(either) == {ids["voles.txt"], ids["owls.txt"]}
    assert found(Comparison("kind", "in", ["fish"])) == set()
    top = stack.store_search.search(store, ["herons", "rivers"], max_results=1)
    assert [h.hit.file_id for h in top] == [ids["herons.txt"]]
    assert top[0].attributes == {"kind": "bird", "year": 2024}
    assert stack.store_search.search(store, ["herons"], score_threshold=1e9) == []
    with pytest.raises(InvalidRequestError):
        stack.store_search.search(store, ["  "])

    report = stack.files.upload("q1.pdf", make_pdf(PAGE_TEXTS), purpose="assistants")
    stack.collections.attach(store, report.id)
    assert stack.collections.file_text(store, report.id) == ""  # not ingested yet
    stack.worker.run_until_idle()
    text = stack.collections.file_text(store, report.id)
    for page in PAGE_TEXTS:
        assert " ".join(page.split()[:6]) in " ".join(text.split())
    assert text.count("Valparaiso") == 1
