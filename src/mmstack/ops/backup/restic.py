"""The restic program, run as a subprocess: the repository that keeps mmstack's backups.

restic deduplicates (content-defined chunks, so a second backup stores only what changed),
encrypts and authenticates every byte (AES-256 with Poly1305), compresses, speaks S3 and a
dozen other stores, and is a tool operators already trust to find their data in. mmstack
only prepares a consistent copy of its state for it and reads it back."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmstack.errors import MMStackError


class BackupError(MMStackError):
    code = "backup_failed"


@dataclass(frozen=True, slots=True)
class ResticSnapshot:
    id: str
    time: str  # RFC 3339, as restic writes it
    paths: tuple[str, ...]
    tags: tuple[str, ...]

    def tag_value(self, key: str) -> str | None:
        """The value of a `key=value` tag, or None."""
        prefix = f"{key}="
        return next((t[len(prefix) :] for t in self.tags if t.startswith(prefix)), None)


@dataclass(frozen=True, slots=True)
class BackupSummary:
    snapshot_id: str
    bytes_added: int  # what this run wrote to the repository (after deduplication)
    bytes_processed: int  # what it read
    files_new: int
    files_changed: int
    files_unmodified: int


class Restic:
    """One repository: a directory or `s3:<endpoint>/<bucket>/<prefix>`, with its password."""

    def __init__(
        self,
        repository: str,
        password: str,
        *,
        program: str = "restic",
        environment: dict[str, str] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.repository = repository
        self._program = program
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))},
            **(environment or {}),
            "RESTIC_REPOSITORY": repository,
            "RESTIC_PASSWORD": password,
        }
        if cache_dir is not None:
            self._env["RESTIC_CACHE_DIR"] = str(cache_dir)

    def exists(self) -> bool:
        """Whether the repository is there and opens with this password."""
        result = self._run(["cat", "config"], check=False)
        if result.returncode == 0:
            return True
        if "wrong password" in result.stderr or "no key found" in result.stderr:
            raise BackupError(
                f"the backup repository {self.repository} does not open with the configured "
                "password (MMSTACK_BACKUP__PASSWORD)"
            )
        return False

    def init(self) -> None:
        self._run(["init"])

    def backup(
        self,
        paths: Sequence[Path],
        *,
        tags: Sequence[str],
        parent: str | None = None,
        cwd: Path | None = None,
    ) -> BackupSummary:
        """Snapshot `paths`; unchanged files (same size, mtime and inode as in `parent`, or
        the latest snapshot of the same paths) are not read again."""
        args = ["backup", "--json", "--ignore-ctime", "--tag", ",".join(tags)]
        if parent is not None:
            args += ["--parent", parent]
        result = self._run([*args, *map(str, paths)], cwd=cwd)
        for line in reversed(result.stdout.splitlines()):
            message = _json_line(line)
            if message.get("message_type") == "summary":
                return BackupSummary(
                    snapshot_id=message["snapshot_id"],
                    bytes_added=int(message.get("data_added", 0)),
                    bytes_processed=int(message.get("total_bytes_processed", 0)),
                    files_new=int(message.get("files_new", 0)),
                    files_changed=int(message.get("files_changed", 0)),
                    files_unmodified=int(message.get("files_unmodified", 0)),
                )
        raise BackupError(f"restic backup printed no summary: {result.stdout[-500:]}")

    def snapshots(self, tag: str | None = None) -> list[ResticSnapshot]:
        args = ["snapshots", "--json"] + (["--tag", tag] if tag else [])
        found: Any = json.loads(self._run(args).stdout or "[]")
        return [
            ResticSnapshot(
                id=item["id"],
                time=item["time"],
                paths=tuple(item.get("paths") or ()),
                tags=tuple(item.get("tags") or ()),
            )
            for item in found or []
        ]

    def restore(self, snapshot_id: str, target: Path) -> None:
        """Write the snapshot's files under `target` (at their original absolute paths);
        fails when any file cannot be read back whole."""
        self._run(["restore", snapshot_id, "--target", str(target), "--verify"])

    def forget(self, snapshot_ids: Sequence[str], *, prune: bool = True) -> None:
        if snapshot_ids:
            self._run(["forget", *(["--prune"] if prune else []), *snapshot_ids])

    def check(self, *, read_data: bool = False) -> None:
        self._run(["check", *(["--read-data"] if read_data else [])])

    def _run(
        self, args: list[str], *, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                [self._program, "--no-lock" if args[0] == "cat" else "--quiet", *args],
                env=self._env,
                cwd=cwd,
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise BackupError(
                f"the backup program '{self._program}' is not installed (Debian: apt-get "
                "install restic), or set MMSTACK_BACKUP__RESTIC to its path"
            ) from None
        if check and result.returncode != 0:
            raise BackupError(f"restic {args[0]} failed: {_last_lines(result.stderr)}")
        return result


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _last_lines(text: str, count: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-count:]) or "no message"
