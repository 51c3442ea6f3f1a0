"""A durable job queue in the SQL database, consumed by the worker threads of
`mmstack.ingest.worker` (embedded) or worker processes (scale-out, same code on PostgreSQL).

Why not a queue library: a job's state must change in the same transaction as the file it
works on, and must survive a crash mid-job. Jobs are claimed with a lease; a worker that
dies leaves an expired lease and the job runs again (handlers are idempotent). Failures
retry with exponential backoff up to `max_attempts`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from mmstack.errors import IngestError, NotFoundError
from mmstack.store.db import Database
from mmstack.store.models import MAX_ROW_ID, Collection, CollectionFile, Job, JobStatus
from mmstack.store.ownership import Owner, owns_collection
from mmstack.telemetry import current_traceparent

# The advisory lock held on PostgreSQL while a scheduled job is looked for and added.
_SCHEDULE_LOCK: Final = 0x6D6D_7374_6163_6B01 >> 1


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    collection_file_id: int | None
    attempts: int
    max_attempts: int
    worker: str  # who holds the lease
    traceparent: str | None = None  # the trace of the request that queued it


class PermanentJobError(IngestError):
    """A failure that retrying cannot fix (bad input); the job fails at once."""


class LeaseLostError(Exception):
    """The job's lease expired and another worker took the job over: this worker's
    outcome is dropped (the other one finishes the job)."""


def lease_held(session: Session, job: ClaimedJob) -> bool:
    """Whether `job` is still leased to the worker that claimed it, the row locked until
    the caller's transaction ends: write a job's results in the same transaction, after
    this check, and they are written once even when a stalled worker's lease was taken."""
    held = (
        select(Job.id)
        .where(Job.id == job.id, Job.worker == job.worker, Job.status == JobStatus.RUNNING)
        .with_for_update()
    )
    return session.scalar(held) is not None


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
            traceparent=current_traceparent(),
        )
        session.add(job)
        return job

    def schedule(self, kind: str, *, run_after: float, running: Sequence[int] = ()) -> bool:
        """Queue a job of `kind` (a periodic one, of no file) to run at `run_after`, unless
        one is queued or running besides `running` (the caller's own); an earlier
        `run_after` then moves the queued one forward. Returns whether one was added.
        Processes doing this at once add one job between them: the check and the insert
        hold an advisory lock on PostgreSQL, SQLite's write lock on SQLite."""
        with self._db.session(write=True) as session:
            if self._db.dialect == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_SCHEDULE_LOCK)))
            active = Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
            pending = session.scalars(
                select(Job).where(Job.kind == kind, active, Job.id.not_in(running))
            ).all()
            for job in pending:
                if job.status == JobStatus.QUEUED and job.run_after > run_after:
                    job.run_after = run_after
            if pending:
                return False
            self.enqueue(session, kind, None).run_after = run_after
            return True

    def last_finished(self, kind: str) -> float | None:
        """When the latest job of `kind` that finished (succeeded or failed) did."""
        finished = Job.status.in_([JobStatus.SUCCEEDED, JobStatus.FAILED])
        with self._db.session() as session:
            found = session.scalar(
                select(func.max(Job.updated_at)).where(Job.kind == kind, finished)
            )
        return None if found is None else float(found)

    def last_succeeded(self, kind: str) -> float | None:
        """When the latest job of `kind` that succeeded did."""
        with self._db.session() as session:
            found = session.scalar(
                select(func.max(Job.updated_at)).where(
                    Job.kind == kind, Job.status == JobStatus.SUCCEEDED
                )
            )
        return None if found is None else float(found)

    def finished_since(self, kind: str, since: float) -> Job | None:
        """The newest job of `kind` that finished (succeeded, or failed for good) at or
        after `since`: the outcome of a run someone asked for."""
        finished = Job.status.in_([JobStatus.SUCCEEDED, JobStatus.FAILED])
        with self._db.session() as session:
            return session.scalar(
                select(Job)
                .where(Job.kind == kind, finished, Job.updated_at >= int(since))
                .order_by(Job.id.desc())
                .limit(1)
            )

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
            .returning(
                Job.id,
                Job.kind,
                Job.collection_file_id,
                Job.attempts,
                Job.max_attempts,
                Job.worker,
                Job.traceparent,
            )
        )
        with self._db.session(write=True) as session:
            rows = session.execute(stmt).all()
        claimed = [
            ClaimedJob(job_id, kind, member_id, attempts, most, holder or "", traceparent)
            for job_id, kind, member_id, attempts, most, holder, traceparent in rows
        ]
        return sorted(claimed, key=lambda job: job.id)

    def heartbeat(self, jobs: Sequence[ClaimedJob]) -> None:
        """Extend the leases of running jobs (those still held by their claimers)."""
        with self._db.session(write=True) as session:
            for job in jobs:
                session.execute(
                    update(Job)
                    .where(_still_held(job))
                    .values(lease_expires_at=time.time() + self.lease_seconds)
                )

    def succeed(self, job: ClaimedJob) -> bool:
        """Record success; False when the lease was lost (the job is another's now)."""
        return self._finish(job, JobStatus.SUCCEEDED, None)

    def fail(self, job: ClaimedJob, error: str, *, permanent: bool) -> bool:
        """Record a failure; returns True when the job will be retried (False too when
        the lease was lost: the job is another worker's now)."""
        if permanent or job.attempts >= job.max_attempts:
            self._finish(job, JobStatus.FAILED, error)
            return False
        delay = self.retry_base_seconds * 2 ** (job.attempts - 1)
        with self._db.session(write=True) as session:
            result = session.execute(
                update(Job)
                .where(_still_held(job))
                .values(
                    status=JobStatus.QUEUED,
                    run_after=time.time() + delay,
                    lease_expires_at=None,
                    last_error=error,
                )
            )
        return _changed(result)

    def release(self, worker: str | None = None) -> int:
        """Requeue the jobs `worker` (default: this process) still holds, at once: a
        worker stopping gracefully hands back what it could not finish."""
        with self._db.session(write=True) as session:
            result = session.execute(
                update(Job)
                .where(Job.worker == (worker or self.worker_name), Job.status == JobStatus.RUNNING)
                .values(**_due_now())
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def hand_back(self, jobs: Sequence[ClaimedJob]) -> int:
        """Requeue `jobs` at once, those still held by their claimer (a worker stopping in
        the middle of a batch), their attempt not counted; returns how many."""
        if not jobs:
            return 0
        with self._db.session(write=True) as session:
            result = session.execute(
                update(Job)
                .where(or_(*(_still_held(job) for job in jobs)))
                .values(**_due_now(), attempts=Job.attempts - 1)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def recover_abandoned(self) -> int:
        """Requeue every running job now. Only safe when no other worker can be alive
        (the embedded server holds the data directory's lock)."""
        with self._db.session(write=True) as session:
            result = session.execute(
                update(Job).where(Job.status == JobStatus.RUNNING).values(**_due_now())
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def pending(self) -> int:
        with self._db.session() as session:
            active = Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
            return session.scalar(select(func.count()).where(active)) or 0

    def recent(
        self, owner: Owner | None, *, status: JobStatus | None = None, limit: int = 100
    ) -> list[Job]:
        """The newest jobs of the files in `owner`'s collections."""
        stmt = _jobs_of(owner).order_by(Job.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(Job.status == status)
        with self._db.session() as session:
            return list(session.scalars(stmt))

    def get(self, owner: Owner | None, job_id: int) -> Job:
        """A job of a file in `owner`'s collections, or NotFoundError."""
        job = None
        if 0 < job_id <= MAX_ROW_ID:  # else no such job, nor a number the database compares
            with self._db.session() as session:
                job = session.scalar(_jobs_of(owner).where(Job.id == job_id))
        if job is None:
            raise NotFoundError(f"job {job_id} not found", param="job_id")
        return job

    def _finish(self, job: ClaimedJob, status: JobStatus, error: str | None) -> bool:
        with self._db.session(write=True) as session:
            result = session.execute(
                update(Job)
                .where(_still_held(job))
                .values(status=status, lease_expires_at=None, last_error=error)
            )
        return _changed(result)


def _due_now() -> dict[str, object]:
    """A requeued job's fields: queued, no lease, runnable at once."""
    return {"status": JobStatus.QUEUED, "lease_expires_at": None, "run_after": time.time()}


def _still_held(job: ClaimedJob) -> ColumnElement[bool]:
    return (Job.id == job.id) & (Job.worker == job.worker) & (Job.status == JobStatus.RUNNING)


def _changed(result: object) -> bool:
    return bool(getattr(result, "rowcount", 0))


def _jobs_of(owner: Owner | None) -> Select[Job]:
    """The jobs of the files in the collections `owner` may see."""
    return (
        select(Job)
        .join(CollectionFile, CollectionFile.id == Job.collection_file_id)
        .join(Collection, Collection.id == CollectionFile.collection_id)
        .where(owns_collection(owner))
    )


def job_states(session: Session) -> tuple[dict[tuple[str, str], int], float | None]:
    """How many jobs of each kind are in each state, and when the oldest queued job that
    is due became due (None: none waits)."""
    counted = session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    )
    states = {(kind, status): int(count) for kind, status, count in counted}
    oldest = session.scalar(
        select(func.min(Job.run_after)).where(
            Job.status == JobStatus.QUEUED, Job.run_after <= time.time()
        )
    )
    return states, None if oldest is None else float(oldest)
