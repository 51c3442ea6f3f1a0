"""Threads that claim jobs from the `JobQueue` and run each kind's handler."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from itertools import groupby

from mmstack import metrics
from mmstack.store.jobs import ClaimedJob, JobQueue, LeaseLostError, PermanentJobError
from mmstack.telemetry import links_to, span

log = logging.getLogger(__name__)

# A handler runs a batch of jobs of its kind and returns, per job id, None for success or
# the exception that job failed with (PermanentJobError: no retry; LeaseLostError: the job
# is another worker's now). `heartbeat` keeps the leases alive; call it between steps of
# long work. Once the worker is stopping it raises WorkerStopping instead.
JobHandler = Callable[[list[ClaimedJob], Callable[[], None]], Mapping[int, Exception | None]]


class WorkerStopping(BaseException):
    """Raised by a heartbeat once the worker is told to stop: the batch is abandoned and
    its jobs handed back at once. A BaseException, so that a handler's `except Exception`
    does not take it for its jobs' failure. Without it a long job would outlive `stop`,
    and a process that exits while a thread is inside a model's native code aborts."""


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
        """Stop: a job in hand is left at its next heartbeat and handed back; one whose
        step cannot be left gets `timeout`, then whatever is still held is handed back
        (the next worker to claim runs it at once, not after its lease expires)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            released = self._queue.release()
            log.warning("stopped with jobs in hand: released", extra={"jobs": released})
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
            if self._stop.is_set():
                raise WorkerStopping
            if time.monotonic() - last_beat > self._queue.lease_seconds / 4:
                self._queue.heartbeat(jobs)
                last_beat = time.monotonic()

        try:
            with span(
                f"job {kind}",
                {"mmstack.job.kind": kind, "mmstack.jobs": len(jobs)},
                links=links_to(job.traceparent for job in jobs),
            ):
                outcomes: Mapping[int, Exception | None] = handler(jobs, heartbeat)
        except WorkerStopping:
            handed = self._queue.hand_back(jobs)
            log.info("stopped in the middle of a batch: handed back", extra={"jobs": handed})
            return
        except Exception as exc:  # the handler failed as a whole: every job retries
            outcomes = dict.fromkeys((job.id for job in jobs), exc)
        for job in jobs:
            error = outcomes.get(job.id)
            if isinstance(error, LeaseLostError):
                log.warning("job taken over by another worker", extra={"job_id": job.id})
            elif error is None:
                self._queue.succeed(job)
                metrics.jobs_finished.labels(job.kind, "succeeded").inc()
            elif isinstance(error, PermanentJobError):
                self._queue.fail(job, error.message, permanent=True)
                metrics.jobs_finished.labels(job.kind, "failed").inc()
            else:
                retried = self._queue.fail(job, f"{type(error).__name__}: {error}", permanent=False)
                metrics.jobs_finished.labels(job.kind, "retried" if retried else "failed").inc()
                log.warning(
                    "job failed", extra={"job_id": job.id, "retry": retried, "error": str(error)}
                )
