"""A durable job queue in the SQL database, consumed by worker threads (embedded) or worker
processes (scale-out, same code on PostgreSQL).

Why not a queue library: a job's state must change in the same transaction as the file it
works on, and must survive a crash mid-job. Jobs are claimed with a lease; a worker that
dies leaves an expired lease and the job runs again (handlers are idempotent). Failures
retry with exponential backoff up to `max_attempts`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mmstack.errors import IngestError
from mmstack.store.db import Database
from mmstack.store.models import Collection, CollectionFile, Job, JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    collection_file_id: int | None
    attempts: int
    max_attempts: int


class PermanentJobError(IngestError):
    """A failure that retrying cannot fix (bad input); the job fails at once."""


# A handler runs a batch of jobs of its kind and returns, per job id, None for success or
# the exception that job failed with (PermanentJobError: no retry). `heartbeat` keeps the
# leases alive; call it between steps of long work.
JobHandler = Callable[[list[ClaimedJob], Callable[[], None]], Mapping[int, Exception | None]]


class JobQueue:
    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 60.0,
        retry_base_seconds: float = 2.0,
        max_attempts: int = 5,
    ) -> None:
        self._db = db
        self.lease_seconds = lease_seconds
        self.retry_base_seconds = retry_base_seconds
        self.max_attempts = max_attempts
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    def enqueue(self, session: Session, kind: str, collection_file_id: int | None) -> Job:
        """Add a job inside the caller's transaction."""
        job = Job(
            kind=kind,
            collection_file_id=collection_file_id,
            max_attempts=self.max_attempts,
            run_after=time.time(),
        )
        session.add(job)
        return job

    def claim(self, limit: int = 1, worker: str | None = None) -> list[ClaimedJob]:
        """Take up to `limit` runnable jobs (queued and due, or running with an expired
        lease), teams in turn and each team's oldest first, leased to this worker."""
        now = time.time()
        due = or_(
            (Job.status == JobStatus.QUEUED) & (Job.run_after <= now),
            (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now),
        )
        # Teams take turns: each team's oldest runnable job first, then each one's second...
        # so a burst of one team's files does not hold back another team's one file.
        team = func.coalesce(Collection.team_id, "")
        turn = func.row_number().over(partition_by=team, order_by=(Job.run_after, Job.id))
        ranked = (
            select(Job.id, Job.run_after, turn.label("turn"))
            .outerjoin(CollectionFile, CollectionFile.id == Job.collection_file_id)
            .outerjoin(Collection, Collection.id == CollectionFile.collection_id)
            .where(due)
            .subquery()
        )
        chosen = (
            select(ranked.c.id)
            .order_by(ranked.c.turn, ranked.c.run_after, ranked.c.id)
            .limit(limit)
        )
        # `due` again where the rows are locked and changed: PostgreSQL checks it there on
        # a row another worker claimed meanwhile (`chosen` saw it before that commit).
        runnable = select(Job.id).where(Job.id.in_(chosen), due).with_for_update(skip_locked=True)
        stmt = (
            update(Job)
            .where(Job.id.in_(runnable), due)
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                lease_expires_at=now + self.lease_seconds,
                worker=worker or self.worker_name,
                updated_at=int(now),
            )
            .returning(Job.id, Job.kind, Job.collection_file_id, Job.attempts, Job.max_attempts)
        )
        with self._db.session(write=True) as session:
            rows = session.execute(stmt).all()
        return sorted((ClaimedJob(*row) for row in rows), key=lambda job: job.id)

    def heartbeat(self, job_ids: Sequence[int]) -> None:
        """Extend the leases of running jobs."""
        with self._db.session(write=True) as session:
            session.execute(
                update(Job)
                .where(Job.id.in_(list(job_ids)), Job.status == JobStatus.RUNNING)
                .values(lease_expires_at=time.time() + self.lease_seconds)
            )

    def succeed(self, job_id: int) -> None:
        self._finish(job_id, JobStatus.SUCCEEDED, None)

    def fail(self, job: ClaimedJob, error: str, *, permanent: bool) -> bool:
        """Record a failure; returns True when the job will be retried."""
        if permanent or job.attempts >= job.max_attempts:
            self._finish(job.id, JobStatus.FAILED, error)
            return False
        delay = self.retry_base_seconds * 2 ** (job.attempts - 1)
        with self._db.session(write=True) as session:
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(
                    status=JobStatus.QUEUED,
                    run_after=time.time() + delay,
                    lease_expires_at=None,
                    last_error=error,
                )
            )
        return True

    def recover_abandoned(self) -> int:
        """Requeue every running job now. Only safe when no other worker can be alive
        (the embedded server holds the data directory's lock)."""
        with self._db.session(write=True) as session:
            result = session.execute(
                update(Job)
                .where(Job.status == JobStatus.RUNNING)
                .values(status=JobStatus.QUEUED, lease_expires_at=None, run_after=time.time())
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def pending(self) -> int:
        with self._db.session() as session:
            active = Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
            return session.scalar(select(func.count()).where(active)) or 0

    def _finish(self, job_id: int, status: JobStatus, error: str | None) -> None:
        with self._db.session(write=True) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status=status, lease_expires_at=None, last_error=error)
            )


class JobWorker:
    """Threads that claim and run jobs until stopped. Jobs are claimed in batches of
    `batch_size` so a handler can share work across them (one embedding pass for many
    small files)."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: dict[str, JobHandler],
        *,
        threads: int = 1,
        batch_size: int = 16,
        poll_seconds: float = 0.2,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._handlers = handlers
        self._threads_wanted = threads
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._on_idle = on_idle
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self._threads_wanted):
            thread = threading.Thread(target=self._run, name=f"mmstack-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        """Wake idle workers (a job was enqueued)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def run_until_idle(self) -> None:
        """Run jobs in the calling thread until none is runnable (for the CLI and tests)."""
        while self.run_batch():
            pass

    def run_batch(self) -> int:
        """Claim and run one batch; returns how many jobs it held."""
        jobs = self._queue.claim(self._batch_size)
        for kind, group in groupby(sorted(jobs, key=lambda j: j.kind), key=lambda j: j.kind):
            self._execute(kind, list(group))
        return len(jobs)

    def _run(self) -> None:
        busy = False
        while not self._stop.is_set():
            try:
                ran = self.run_batch()
                if not ran and busy and self._on_idle:
                    self._on_idle()  # once after each stretch of work
                busy = bool(ran)
            except Exception:
                log.exception("job worker loop error")
                ran = 0
            if not ran:
                self._wake.wait(self._poll_seconds)
                self._wake.clear()

    def _execute(self, kind: str, jobs: list[ClaimedJob]) -> None:
        handler = self._handlers.get(kind)
        if handler is None:
            for job in jobs:
                self._queue.fail(job, f"no handler for job kind {kind!r}", permanent=True)
            return
        last_beat = time.monotonic()

        def heartbeat() -> None:
            nonlocal last_beat
            if time.monotonic() - last_beat > self._queue.lease_seconds / 4:
                self._queue.heartbeat([job.id for job in jobs])
                last_beat = time.monotonic()

        try:
            outcomes: Mapping[int, Exception | None] = handler(jobs, heartbeat)
        except Exception as exc:  # the handler failed as a whole: every job retries
            outcomes = dict.fromkeys((job.id for job in jobs), exc)
        for job in jobs:
            error = outcomes.get(job.id)
            if error is None:
                self._queue.succeed(job.id)
            elif isinstance(error, PermanentJobError):
                self._queue.fail(job, error.message, permanent=True)
            else:
                retried = self._queue.fail(job, f"{type(error).__name__}: {error}", permanent=False)
                log.warning(
                    "job failed", extra={"job_id": job.id, "retry": retried, "error": str(error)}
                )
