"""The data directory is private: it holds every team's text, password hashes and the
deployment's keys. Everything under it is made for the owner alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_data_dir(path: Path) -> None:
    """Create `path` (0700), or take away others' access to one that exists, and make the
    files this process creates from now on private (umask 077): the database, its WAL,
    the vector index and the stored files.

    The umask is the process's: mmstack's server and workers own theirs. Files an older
    version left readable inside stay unreachable, since the directory cannot be entered.
    """
    os.umask(PRIVATE_UMASK)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & PRIVATE_UMASK:
        path.chmod(mode & ~PRIVATE_UMASK)
