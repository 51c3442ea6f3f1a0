"""The data directory's lock: the embedded vector index is one process's, so one mmstack
process at a time opens a data directory that holds it."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from mmstack.errors import MMStackError


class DataDirLockedError(MMStackError):
    code = "data_dir_locked"


def lock_data_dir(data_dir: Path) -> FileLock:
    lock = FileLock(data_dir / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise DataDirLockedError(
            f"data directory {data_dir} is in use by another mmstack process "
            "(a running server?); stop it first, or point MMSTACK_DATA_DIR elsewhere"
        ) from None
    return lock
