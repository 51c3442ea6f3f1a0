"""Which backups rotation keeps: the newest N, and the newest of each of the last N days,
weeks and months that have one (restic's own `forget --keep-*` rules).

The rule is applied here to whole backups rather than by `restic forget` to snapshots:
a backup is several snapshots taken a moment apart, and restic would judge each part on
its own, so a backup taken across midnight could lose its database but keep its blobs."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mmstack.ops.backup.listing import BackupInfo


@dataclass(frozen=True, slots=True)
class KeepPolicy:
    last: int = 3
    daily: int = 7
    weekly: int = 4
    monthly: int = 6


def _buckets() -> list[tuple[str, Callable[[time.struct_time], tuple[int, ...]]]]:
    return [
        ("daily", lambda t: (t.tm_year, t.tm_yday)),
        ("weekly", lambda t: _iso_week(t)),
        ("monthly", lambda t: (t.tm_year, t.tm_mon)),
    ]


def _iso_week(t: time.struct_time) -> tuple[int, ...]:
    year, week, _ = datetime.date(t.tm_year, t.tm_mon, t.tm_mday).isocalendar()
    return (year, week)


def backups_to_forget(
    backups: Sequence[BackupInfo], policy: KeepPolicy, *, now: float | None = None
) -> list[BackupInfo]:
    """The backups the policy does not keep, oldest first. A backup left incomplete (its
    run failed before the manifest) goes once a complete one is newer."""
    complete = sorted((b for b in backups if b.complete), key=lambda b: b.created_at, reverse=True)
    keep = {b.id for b in complete[: policy.last]}
    for name, bucket_of in _buckets():
        wanted = getattr(policy, name)
        seen: set[tuple[int, ...]] = set()
        for backup in complete:
            if len(seen) >= wanted:
                break
            bucket = bucket_of(time.gmtime(backup.created_at))
            if bucket not in seen:
                seen.add(bucket)
                keep.add(backup.id)
    newest = complete[0].created_at if complete else (now or time.time())
    doomed = [
        b
        for b in backups
        if (b.complete and b.id not in keep) or (not b.complete and b.created_at < newest)
    ]
    return sorted(doomed, key=lambda b: b.created_at)
