"""The backups in a repository, read from its snapshots' tags: `backup=<id>` groups a
backup's parts, `part=<name>` names each."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from mmstack.ops.backup.manifest import PARTS
from mmstack.ops.backup.restic import ResticSnapshot

TAG: Final = "mmstack"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    id: str
    created_at: float
    parts: tuple[str, ...]
    snapshots: dict[str, str]  # part -> restic snapshot id
    paths: dict[str, str]  # part -> the folder it was taken from

    @property
    def complete(self) -> bool:
        """Its manifest was written: the last step of a backup."""
        return "manifest" in self.snapshots


def backups_in(snapshots: Sequence[ResticSnapshot]) -> list[BackupInfo]:
    """The backups the snapshots make up, oldest first."""
    grouped: dict[str, dict[str, ResticSnapshot]] = {}
    for snapshot in snapshots:
        backup_id, part = snapshot.tag_value("backup"), snapshot.tag_value("part")
        if backup_id and part:
            grouped.setdefault(backup_id, {})[part] = snapshot
    infos = [
        BackupInfo(
            id=backup_id,
            created_at=min(snapshot_time(s) for s in parts.values()),
            parts=tuple(p for p in PARTS if p in parts),
            snapshots={p: s.id for p, s in parts.items()},
            paths={p: s.paths[0] for p, s in parts.items() if s.paths},
        )
        for backup_id, parts in grouped.items()
    ]
    return sorted(infos, key=lambda b: (b.created_at, b.id))


def latest_by_part(snapshots: Sequence[ResticSnapshot]) -> dict[str, str]:
    """The newest snapshot of each part: the parent a new one is compared with."""
    return {
        part: s.id
        for s in sorted(snapshots, key=snapshot_time)
        if (part := s.tag_value("part")) is not None
    }


def snapshot_time(snapshot: ResticSnapshot) -> float:
    # restic writes nanoseconds; Python reads up to microseconds.
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", snapshot.time).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()
