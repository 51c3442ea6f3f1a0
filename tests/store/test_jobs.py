"""The durable job queue on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mmstack.ingest.worker import JobWorker
from mmstack.store import migrate
from mmstack.store.db import Database
from mmstack.store.jobs import ClaimedJob, JobQueue, PermanentJobError, lease_held
from mmstack.store.models import Job, JobStatus


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def _enqueue(db: Database, queue: JobQueue, n: int = 1) -> list[int]:
    with db.session(write=True) as session:
        jobs = [queue.enqueue(session, "work", None) for _ in range(n)]
        session.flush()
        return [j.id for j in jobs]


def _job(db: Database, job_id: int) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_claim_is_exclusive_under_concurrency(db: Database) -> None:
    queue = JobQueue(db)
    ids = _enqueue(db, queue, 30)
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while jobs := queue.claim(3, name):
            with lock:
                claimed.extend(job.id for job in jobs)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids  # every job exactly once


def test_expired_lease_is_reclaimed(db: Database) -> None:
    queue = JobQueue(db, lease_seconds=0.2)
    (job_id,) = _enqueue(db, queue)
    (first,) = queue.claim(worker="dead-worker")
    assert first.attempts == 1
    assert queue.claim(worker="other") == []  # leased
    time.sleep(0.3)
    (again,) = queue.claim(worker="other")
    assert again.id == job_id
    assert again.attempts == 2


def test_retry_backoff_then_permanent_failure(db: Database) -> None:
    queue = JobQueue(db, retry_base_seconds=0.5, max_attempts=3)
    (job_id,) = _enqueue(db, queue)
    (job,) = queue.claim()
    assert queue.fail(job, "boom 1", permanent=False)
    assert queue.claim() == []  # not due yet: 0.5 s backoff
    time.sleep(0.6)
    (job,) = queue.claim()
    assert job.attempts == 2
    assert queue.fail(job, "boom 2", permanent=False)
    assert _job(db, job_id).run_after - time.time() > 0.5  # backoff doubled to 1 s
    time.sleep(1.1)
    (job,) = queue.claim()
    assert job.attempts == 3
    assert not queue.fail(job, "boom 3", permanent=False)  # attempts exhausted
    final = _job(db, job_id)
    assert (final.status, final.last_error) == (JobStatus.FAILED, "boom 3")


def test_worker_runs_handlers_and_records_outcomes(db: Database) -> None:
    queue = JobQueue(db)
    seen: list[int] = []

    ok, bad, flaky = _enqueue(db, queue, 3)

    def handler(
        jobs: list[ClaimedJob], heartbeat: Callable[[], None]
    ) -> dict[int, Exception | None]:
        heartbeat()
        seen.extend(job.id for job in jobs)
        outcome: dict[int, Exception | None] = {ok: None, bad: PermanentJobError("bad input")}
        outcome[flaky] = RuntimeError("flaky") if seen.count(flaky) == 1 else None
        return {job.id: outcome[job.id] for job in jobs}

    queue.retry_base_seconds = 0.01
    worker = JobWorker(queue, {"work": handler}, threads=2, batch_size=2, poll_seconds=0.01)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while queue.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert sorted(seen) == [ok, bad, flaky, flaky]
    assert _job(db, ok).status == JobStatus.SUCCEEDED
    assert (_job(db, bad).status, _job(db, bad).last_error) == (JobStatus.FAILED, "bad input")
    assert (_job(db, flaky).status, _job(db, flaky).attempts) == (JobStatus.SUCCEEDED, 2)


def test_recover_abandoned_requeues_running_jobs(db: Database) -> None:
    queue = JobQueue(db, lease_seconds=3600)
    (job_id,) = _enqueue(db, queue)
    assert queue.claim(worker="crashed")
    assert queue.recover_abandoned() == 1
    (job,) = queue.claim(worker="restarted")
    assert job.id == job_id


def test_a_stalled_worker_loses_its_job_to_the_one_that_took_it_over(db: Database) -> None:
    queue = JobQueue(db, lease_seconds=0.2, retry_base_seconds=0.01)
    (job_id,) = _enqueue(db, queue)
    (stalled,) = queue.claim(worker="stalled")
    time.sleep(0.3)  # its lease expires: another worker takes the job
    (taker,) = queue.claim(worker="taker")
    queue.heartbeat([stalled])  # the stalled worker's heartbeat renews nothing of another's
    with db.session(write=True) as session:
        assert not lease_held(session, stalled)
        assert lease_held(session, taker)
    assert not queue.succeed(stalled)  # its outcome is dropped
    assert not queue.fail(stalled, "late failure", permanent=False)
    assert _job(db, job_id).status == JobStatus.RUNNING
    assert _job(db, job_id).worker == "taker"
    assert queue.succeed(taker)
    final = _job(db, job_id)
    assert (final.status, final.attempts, final.last_error) == (JobStatus.SUCCEEDED, 2, None)


def test_a_worker_stopping_hands_back_the_jobs_it_could_not_finish(db: Database) -> None:
    queue = JobQueue(db, lease_seconds=3600)
    (job_id,) = _enqueue(db, queue)
    started, release = threading.Event(), threading.Event()

    def slow(jobs: list[ClaimedJob], heartbeat: Callable[[], None]) -> dict[int, Exception | None]:
        started.set()
        release.wait(10)
        return dict.fromkeys((job.id for job in jobs), None)

    worker = JobWorker(queue, {"work": slow}, poll_seconds=0.01)
    worker.start()
    assert started.wait(10)
    worker.stop(timeout=0.2)  # the job is still in hand: handed back
    try:
        (again,) = queue.claim(worker="next")  # at once, not after the hour's lease
        assert again.id == job_id
    finally:
        release.set()
    assert _job(db, job_id).worker == "next"


def test_a_long_job_stops_at_its_next_heartbeat_and_is_handed_back(db: Database) -> None:
    """A handler that calls its heartbeat between steps (as ingestion does between
    embedding batches) is stopped there: its thread ends within `stop`, nothing of the
    batch is recorded as failed, and the job is queued again at once."""
    queue = JobQueue(db, lease_seconds=3600)
    (job_id,) = _enqueue(db, queue)
    started = threading.Event()
    steps: list[int] = []

    def long(jobs: list[ClaimedJob], heartbeat: Callable[[], None]) -> dict[int, Exception | None]:
        started.set()
        try:
            for step in range(10_000):  # far longer than the test: it ends only if stopped
                time.sleep(0.01)
                steps.append(step)
                heartbeat()
        except Exception as exc:  # a handler's usual catch-all does not swallow the stop
            raise AssertionError("the stop was caught as a failure") from exc
        return dict.fromkeys((job.id for job in jobs), None)

    worker = JobWorker(queue, {"work": long}, poll_seconds=0.01)
    worker.start()
    assert started.wait(10)
    worker.stop(timeout=30)
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("mmstack-w"))
    assert 0 < len(steps) < 10_000
    job = _job(db, job_id)
    assert (job.status, job.last_error, job.lease_expires_at) == (JobStatus.QUEUED, None, None)
    assert job.attempts == 0  # an interrupted run is no failed attempt
    (again,) = queue.claim(worker="next")  # at once, not after the hour's lease
    assert again.id == job_id


def test_a_job_keeps_the_trace_it_was_queued_under(db: Database) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from mmstack.telemetry import links_to

    queue = JobQueue(db)
    with db.session(write=True) as session:
        queue.enqueue(session, "noop", None)  # no span recorded: tracing off
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("upload") as upload, db.session(write=True) as session:
        queue.enqueue(session, "noop", None)
    untraced, traced = queue.claim(2)
    assert untraced.traceparent is None
    context = upload.get_span_context()
    flags = f"{context.trace_flags:02x}"
    assert traced.traceparent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
    # Each origin once; what is not a trace context is passed over.
    (link,) = links_to([traced.traceparent, None, traced.traceparent, "not-a-traceparent"])
    assert (link.context.trace_id, link.context.span_id) == (context.trace_id, context.span_id)
