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
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from mmstack.errors import IngestError
from mmstack.store.db import Database
from mmstack.store.models import Job, JobStatus

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


JobHandler = Callable[[ClaimedJob, Callable[[], None]], None]


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

    def claim(self, worker: str | None = None) -> ClaimedJob | None:
        """Take the next runnable job: queued and due, or running with an expired lease."""
        now = time.time()
        runnable = (
            select(Job.id)
            .where(
                or_(
                    (Job.status == JobStatus.QUEUED) & (Job.run_after <= now),
                    (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now),
                )
            )
            .order_by(Job.run_after, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(Job)
            .where(Job.id == runnable)
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
            row = session.execute(stmt).first()
        return ClaimedJob(*row) if row else None

    def heartbeat(self, job_id: int) -> None:
        with self._db.session(write=True) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
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
    """Threads that claim and run jobs until stopped."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: dict[str, JobHandler],
        *,
        threads: int = 1,
        poll_seconds: float = 0.2,
    ) -> None:
        self._queue = queue
        self._handlers = handlers
        self._threads_wanted = threads
        self._poll_seconds = poll_seconds
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
        while self.run_one():
            pass

    def run_one(self) -> bool:
        job = self._queue.claim()
        if job is None:
            return False
        self._execute(job)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
            except Exception:
                log.exception("job worker loop error")
                ran = False
            if not ran:
                self._wake.wait(self._poll_seconds)
                self._wake.clear()

    def _execute(self, job: ClaimedJob) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            self._queue.fail(job, f"no handler for job kind {job.kind!r}", permanent=True)
            return
        last_beat = time.monotonic()

        def heartbeat() -> None:
            nonlocal last_beat
            if time.monotonic() - last_beat > self._queue.lease_seconds / 4:
                self._queue.heartbeat(job.id)
                last_beat = time.monotonic()

        try:
            handler(job, heartbeat)
        except PermanentJobError as exc:
            self._queue.fail(job, exc.message, permanent=True)
        except Exception as exc:
            retried = self._queue.fail(job, f"{type(exc).__name__}: {exc}", permanent=False)
            log.warning("job failed", extra={"job_id": job.id, "retry": retried, "error": str(exc)})
        else:
            self._queue.succeed(job.id)
