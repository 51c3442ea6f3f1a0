"""Backups: a consistent copy of mmstack's state (database, vector index, blobs) kept in a
restic repository, and its verification, restore and rotation."""

from mmstack.ops.backup.listing import BackupInfo
from mmstack.ops.backup.manifest import PARTS, Manifest
from mmstack.ops.backup.restic import BackupError, Restic
from mmstack.ops.backup.rotation import KeepPolicy
from mmstack.ops.backup.service import BackupRotation, BackupService, CreatedBackup, VerifyReport
from mmstack.ops.backup.state import Storage

__all__ = [
    "PARTS",
    "BackupError",
    "BackupInfo",
    "BackupRotation",
    "BackupService",
    "CreatedBackup",
    "KeepPolicy",
    "Manifest",
    "Restic",
    "Storage",
    "VerifyReport",
]
