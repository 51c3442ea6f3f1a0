"""Jobs of no file that run every so often (retention, backups): one is queued at a time
(`JobQueue.schedule`), due when the last one finished `interval_hours` ago, and each run
queues the next. `request()` asks for a run now, whatever the interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from mmstack.ingest.worker import WorkerStopping
from mmstack.store.jobs import ClaimedJob, JobQueue

HOUR: Final = 3600.0
BEAT_SECONDS: Final = 10.0
Heartbeat = Callable[[], None]


class PeriodicJob:
    def __init__(
        self,
        kind: str,
        queue: JobQueue,
        action: Callable[[Heartbeat], None],
        *,
        interval_hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kind = kind
        self._queue = queue
        self._action = action
        self._interval = interval_hours * HOUR
        self._clock = clock

    def schedule(self) -> bool:
        """Queue the next run unless one is queued (a worker's start); whether one was.
        Nothing when the interval is 0."""
        if self._interval <= 0:
            return False
        last = self._queue.last_finished(self.kind)
        run_after = self._clock() if last is None else last + self._interval
        return self._queue.schedule(self.kind, run_after=run_after)

    def request(self) -> float:
        """Ask for a run now (one already queued is moved forward); when it was asked."""
        asked = self._clock()
        self._queue.schedule(self.kind, run_after=asked)
        return asked

    def run(self, jobs: list[ClaimedJob], heartbeat: Heartbeat) -> dict[int, Exception | None]:
        ids = [job.id for job in jobs]
        outcome: Exception | None = None
        done = threading.Event()
        beats = threading.Thread(target=_beat, args=(heartbeat, done), daemon=True)
        beats.start()
        try:
            self._action(heartbeat)
        except Exception as exc:  # retried by the queue; the last attempt schedules the next
            outcome = exc
        finally:
            done.set()
            beats.join()
        last_attempt = all(job.attempts >= job.max_attempts for job in jobs)
        if self._interval > 0 and (outcome is None or last_attempt):
            next_run = self._clock() + self._interval
            self._queue.schedule(self.kind, run_after=next_run, running=ids)
        return dict.fromkeys(ids, outcome)


def _beat(heartbeat: Heartbeat, done: threading.Event) -> None:
    """Keep the job's lease while a long step (a backup's upload) says nothing. A worker
    that is stopping cannot stop the step itself: it waits for it (`JobWorker.stop`)."""
    while not done.wait(BEAT_SECONDS):
        try:
            heartbeat()
        except WorkerStopping:
            return
