"""The ingestion pipeline end to end on a real stack (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import func, select

from mmstack.auth.audit import Actor
from mmstack.errors import ConflictError, NotFoundError
from mmstack.index.filters import SearchFilter
from mmstack.ingest.reconcile import BLOB_GRACE_SECONDS
from mmstack.stack import Stack
from mmstack.store.jobs import ClaimedJob
from mmstack.store.models import Chunk, CollectionFile, FileStatus, Job, JobStatus, StoredFile
from mmstack.store.ownership import Owner
from tests.documents import PAGE_TEXTS, make_pdf

NOTES = b"""# Garden notes

## Tomatoes

Tomatoes need full sun and deep watering twice a week.

## Roses

Prune the roses in late winter, just above an outward-facing bud.
"""


def _ingest(stack: Stack, collection: str, files: dict[str, bytes], **kw: object) -> dict[str, str]:
    cid = stack.collections.resolve_id(collection)
    ids = {}
    for name, data in files.items():
        added = stack.intake.add_file(cid, name, data, **kw)  # type: ignore[arg-type]
        ids[name] = added.collection_file.file_id
    stack.worker.run_until_idle()
    return ids


def _claimable_again(stack: Stack, member_id: int) -> list[ClaimedJob]:
    with stack.db.session(write=True) as session:
        stack.queue.enqueue(session, "ingest_file", member_id)
    return stack.queue.claim()


def _digest(member: CollectionFile) -> str:
    """The sha256 of a file uploaded into its collection (attached files have none)."""
    assert member.sha256 is not None
    return member.sha256


def _chunk_count(stack: Stack) -> int:
    with stack.db.session() as session:
        return session.scalar(select(func.count()).select_from(Chunk)) or 0


def test_pdf_page_anchor_and_hybrid_search(stack: Stack) -> None:
    stack.collections.create("reports")
    ids = _ingest(stack, "reports", {"q1.pdf": make_pdf(PAGE_TEXTS), "notes.md": NOTES})
    members = {
        m.file_id: m for m in stack.collections.files(stack.collections.resolve_id("reports"))
    }
    assert {m.status for m in members.values()} == {FileStatus.COMPLETED}
    for mode in ("hybrid", "keyword", "vector"):
        hits = stack.search.search(
            "corrosion of titanium valves in the desalination plant",
            mode=mode,
        )
        assert hits[0].file_id == ids["q1.pdf"], mode
        assert hits[0].anchor.page_start == 3 == hits[0].anchor.page_end
        assert "Valparaiso" in hits[0].text
    roses = stack.search.search("when should I prune roses")[0]
    assert roses.file_id == ids["notes.md"]
    assert roses.anchor.heading_path == ["Garden notes", "Roses"]


def test_same_bytes_twice_are_one_file(stack: Stack) -> None:
    cid = stack.collections.create("c").id
    first = stack.intake.add_file(cid, "a.md", NOTES)
    again = stack.intake.add_file(cid, "copy-of-a.md", NOTES)
    assert first.created
    assert not again.created
    assert again.collection_file.file_id == first.collection_file.file_id
    stack.worker.run_until_idle()
    assert len(stack.collections.files(cid)) == 1


def test_failed_files_are_not_searchable_and_the_batch_goes_on(stack: Stack) -> None:
    cid = stack.collections.create("mixed").id
    good = stack.intake.add_file(cid, "good.txt", b"The zebra migration crosses the Mara river.")
    corrupt = stack.intake.add_file(cid, "broken.pdf", b"%PDF-1.7\n zebra migration garbage")
    unsupported = stack.intake.add_file(cid, "tool.exe", b"MZ zebra migration")
    bad_utf8 = stack.intake.add_file(cid, "latin.txt", b"zebra migration caf\xe9")
    stack.worker.run_until_idle()
    status = {m.file_id: m for m in stack.collections.files(cid)}
    assert status[good.collection_file.file_id].status == FileStatus.COMPLETED
    for added in (corrupt, unsupported, bad_utf8):
        member = status[added.collection_file.file_id]
        assert member.status == FileStatus.FAILED
        assert member.last_error
    assert "unsupported" in status[unsupported.collection_file.file_id].last_error  # type: ignore[operator]
    hits = stack.search.search("zebra migration", top_k=20)
    assert {h.file_id for h in hits} == {good.collection_file.file_id}
    with stack.db.session() as session:
        failed_jobs = session.scalars(select(Job).where(Job.status == JobStatus.FAILED)).all()
    assert len(failed_jobs) == 2  # corrupt PDF and bad UTF-8 failed once, without retries
    assert all(j.attempts == 1 for j in failed_jobs)


def test_size_limit(stack: Stack) -> None:
    stack.settings.ingest.max_file_bytes = 100  # the service reads the same settings object
    cid = stack.collections.create("small").id
    added = stack.intake.add_file(cid, "big.txt", b"x" * 101)
    assert added.collection_file.status == FileStatus.FAILED
    assert "over the limit" in (added.collection_file.last_error or "")
    assert not stack.blobs.exists(_digest(added.collection_file))


def test_filters(stack: Stack) -> None:
    a = stack.collections.create("a").id
    b = stack.collections.create("b").id
    _ingest(stack, "a", {"x.txt": b"Lighthouse keepers log the weather every hour."}, tags=["log"])
    _ingest(stack, "b", {"y.md": b"# Lighthouse\n\nThe lighthouse lamp is cleaned daily."})
    query = "lighthouse"
    assert {h.collection_id for h in stack.search.search(query)} == {a, b}
    assert {
        h.collection_id for h in stack.search.search(query, flt=SearchFilter(collection_ids=[b]))
    } == {b}
    for mode in ("keyword", "vector"):
        tagged = stack.search.search(query, mode=mode, flt=SearchFilter(tags=["log"]))
        assert {h.collection_id for h in tagged} == {a}
        md = stack.search.search(query, mode=mode, flt=SearchFilter(media_types=["text/markdown"]))
        assert {h.collection_id for h in md} == {b}
        assert stack.search.search(query, mode=mode, flt=SearchFilter(created_before=0)) == []


def test_delete_collection_removes_chunks_vectors_and_unshared_blobs(stack: Stack) -> None:
    keep = stack.collections.create("keep").id
    drop = stack.collections.create("drop").id
    shared = b"Shared text about glaciers retreating in the Alps."
    _ingest(stack, "keep", {"shared.txt": shared})
    _ingest(
        stack, "drop", {"shared.txt": shared, "only.txt": b"Only here: basalt columns in Iceland."}
    )
    only_sha = _digest(stack.collections.files(drop)[-1])
    assert stack.vectors.stats().points == 3
    stack.collections.delete("drop")
    assert stack.vectors.stats().points == 1
    assert _chunk_count(stack) == 1
    assert not stack.blobs.exists(only_sha)
    assert stack.blobs.exists(_digest(stack.collections.files(keep)[0]))
    with stack.db.session() as session:
        assert session.scalar(select(func.count()).select_from(StoredFile)) == 1
    assert stack.search.search("basalt columns Iceland", mode="keyword") == []


def test_delete_file(stack: Stack) -> None:
    cid = stack.collections.create("c").id
    ids = _ingest(
        stack, "c", {"a.txt": b"Penguins huddle for warmth.", "b.txt": b"Owls hunt at night."}
    )
    stack.collections.delete_file(cid, ids["a.txt"])
    assert stack.search.search("penguins huddle", mode="keyword") == []
    assert stack.vectors.stats().points == 1


def test_transient_failure_retries_with_backoff_then_completes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = stack.collections.create("c").id
    calls = {"n": 0}
    real_embed = stack.embedder.embed

    def flaky(texts, *, between_batches=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("embedding backend hiccup")
        return real_embed(texts, between_batches=between_batches)

    monkeypatch.setattr(stack.embedder, "embed", flaky)
    added = stack.intake.add_file(cid, "a.txt", b"Volcanic soil is rich in minerals.")
    assert stack.worker.run_batch() == 1
    member = stack.collections.file(cid, added.collection_file.file_id)
    assert member.status == FileStatus.QUEUED
    assert "hiccup" in (member.last_error or "")
    time.sleep(0.05)  # the retry is due after retry_base_seconds (0.01 s in tests)
    stack.worker.run_until_idle()
    assert stack.collections.file(cid, added.collection_file.file_id).status == FileStatus.COMPLETED


def test_reprocessing_is_idempotent(stack: Stack) -> None:
    cid = stack.collections.create("c").id
    ids = _ingest(stack, "c", {"a.md": NOTES})
    member = stack.collections.file(cid, ids["a.md"])
    before = _chunk_count(stack)
    # Run the job's work again as a crashed-and-retried worker would.
    with stack.db.session(write=True) as session:
        row = session.get(CollectionFile, member.id)
        assert row is not None
        row.status = FileStatus.IN_PROGRESS
        stack.queue.enqueue(session, "ingest_file", member.id)
    stack.worker.run_until_idle()
    assert stack.collections.file(cid, ids["a.md"]).status == FileStatus.COMPLETED
    assert _chunk_count(stack) == before
    assert stack.vectors.stats().points == before
    assert stack.reconciler.run().changed is False


def test_retry_failed_file(stack: Stack) -> None:
    cid = stack.collections.create("c").id
    broken = stack.intake.add_file(cid, "broken.pdf", b"%PDF-1.7\n truncated")
    rejected = stack.intake.add_file(cid, "tool.exe", b"MZ")
    fine = stack.intake.add_file(cid, "fine.txt", b"Hedgehogs hibernate in winter.")
    stack.worker.run_until_idle()
    file_id = broken.collection_file.file_id
    first_error = stack.collections.file(cid, file_id).last_error
    retried = stack.intake.retry_file(cid, file_id)
    assert (retried.status, retried.last_error) == (FileStatus.QUEUED, None)
    stack.worker.run_until_idle()
    again = stack.collections.file(cid, file_id)
    assert (again.status, again.last_error) == (FileStatus.FAILED, first_error)
    with pytest.raises(ConflictError, match="refused before it was stored"):
        stack.intake.retry_file(cid, rejected.collection_file.file_id)
    with pytest.raises(ConflictError, match="not failed"):
        stack.intake.retry_file(cid, fine.collection_file.file_id)
    with pytest.raises(NotFoundError):
        stack.intake.retry_file(cid, "file-nope")


def test_blobs_no_file_refers_to_are_removed_once_old(stack: Stack) -> None:
    """A crash between storing an upload's bytes and recording it leaves a blob behind."""
    cid = stack.collections.create("c").id
    kept = stack.intake.add_file(cid, "kept.txt", b"Badgers dig setts.")
    stack.worker.run_until_idle()
    an_hour_ago = time.time() - BLOB_GRACE_SECONDS - 60
    orphan = stack.blobs.put(b"bytes of an upload whose request died")
    in_flight = stack.blobs.put(b"bytes of an upload being recorded right now")
    leftover = stack.blobs.local_path(orphan).parent / ".tmp-crashed"
    leftover.write_bytes(b"half a write")
    for digest in (orphan, _digest(kept.collection_file)):
        os.utime(stack.blobs.local_path(digest), (an_hour_ago, an_hour_ago))
    os.utime(leftover, (an_hour_ago, an_hour_ago))

    report = stack.reconciler.run()
    assert report.removed_blobs == 1
    assert not stack.blobs.exists(orphan)
    assert not leftover.exists()
    assert stack.blobs.exists(in_flight)  # too young to judge
    assert stack.blobs.exists(_digest(kept.collection_file))
    assert stack.reconciler.run().changed is False


def test_teams_take_turns_at_the_queue(stack: Stack) -> None:
    """A burst of one team's files does not hold back another team's file."""
    other = stack.auth.accounts.create_team("other", actor=Actor.local())
    busy = stack.collections.create("burst").id
    quiet = stack.collections.for_owner(Owner(other.id)).create("one").id
    burst = [stack.intake.add_file(busy, f"{n}.txt", f"File {n}.".encode()) for n in range(6)]
    lone = stack.intake.add_file(quiet, "lone.txt", b"The other team's file.")
    claimed = stack.queue.claim(limit=2)
    members = {job.collection_file_id for job in claimed}
    assert members == {burst[0].collection_file.id, lone.collection_file.id}
