"""Backups of one mmstack installation into a restic repository: create, list, verify,
restore and rotate.

A backup is one restic snapshot per part (the manifest, the database, the vector index,
the blobs), tagged `backup=<id>` and `part=<name>`: each part is read back on its own, so a
damaged byte in the repository is traced to the part it spoils."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from mmstack import __version__
from mmstack.ops.backup.database import check_database_copy, load_database
from mmstack.ops.backup.listing import TAG, BackupInfo, backups_in, latest_by_part
from mmstack.ops.backup.manifest import MANIFEST_FILE, PARTS, Manifest, new_backup_id
from mmstack.ops.backup.restic import BackupError, BackupSummary, Restic
from mmstack.ops.backup.rotation import KeepPolicy, backups_to_forget
from mmstack.ops.backup.state import (
    INDEXES,
    SECRET_FILES,
    Storage,
    blob_file,
    capture,
    load_vectors,
    mirrored_blobs,
    restore_blobs,
    restore_vectors,
)
from mmstack.ops.retention_kinds import RetentionItem
from mmstack.store import migrate
from mmstack.store.blobs import file_sha256

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CreatedBackup:
    manifest: Manifest
    written: dict[str, BackupSummary] = field(default_factory=dict)

    @property
    def bytes_added(self) -> int:
        return sum(s.bytes_added for s in self.written.values())


@dataclass(slots=True)
class VerifyReport:
    backup_id: str
    problems: dict[str, str] = field(default_factory=dict)  # part -> what is wrong

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class RestoreReport:
    manifest: Manifest
    schema_from: str | None
    schema_to: str
    vectors: int = 0
    picture_vectors: int = 0
    blobs_stored: int = 0


class BackupService:
    def __init__(self, restic: Restic, staging: Path, policy: KeepPolicy) -> None:
        self._restic = restic
        self._staging = staging
        self._policy = policy

    @property
    def repository(self) -> str:
        return self._restic.repository

    def create(self, storage: Storage, parts: Sequence[str] = PARTS) -> CreatedBackup:
        unknown = set(parts) - set(PARTS)
        if unknown or not parts:
            raise BackupError(f"a backup holds some of {', '.join(PARTS)}, not {sorted(unknown)}")
        self._staging.mkdir(parents=True, exist_ok=True)
        # One backup at a time per data directory (a scheduled one and a command's, or
        # several workers sharing the directory): they share the staging folder.
        with FileLock(self._staging / ".lock"):
            if not self._restic.exists():
                self._restic.init()
            manifest = Manifest(
                id=new_backup_id(),
                created_at=time.time(),
                mmstack_version=__version__,
                schema_revision=migrate.current_revision(storage.db.engine),
                database=storage.db.dialect,
                database_schema=None,
                embedding_model=storage.embedding_model,
                dimension=storage.dimension,
                parts=[p for p in PARTS if p in parts],
            )
            return self._create(storage, manifest)

    def _create(self, storage: Storage, manifest: Manifest) -> CreatedBackup:
        capture(storage, self._staging, manifest.parts, manifest)
        latest = latest_by_part(self._restic.snapshots(TAG))
        created = CreatedBackup(manifest)
        tags = [TAG, f"backup={manifest.id}"]

        def take(part: str) -> BackupSummary:
            return self._restic.backup(
                [self._staging / part], tags=[*tags, f"part={part}"], parent=latest.get(part)
            )

        # The parts at once: each restic process spends most of a small part's time opening
        # the repository (its lock is shared by backups).
        with ThreadPoolExecutor(len(manifest.parts)) as pool:
            created.written.update(zip(manifest.parts, pool.map(take, manifest.parts), strict=True))
        manifest.write(self._staging / "manifest")
        created.written["manifest"] = self._restic.backup(
            [self._staging / "manifest"],
            tags=[*tags, "part=manifest", f"schema={manifest.schema_revision or 'none'}"],
            parent=latest.get("manifest"),
        )
        return created

    def backups(self) -> list[BackupInfo]:
        """Every backup in the repository, oldest first (none when it does not exist)."""
        if not self._restic.exists():
            return []
        return backups_in(self._restic.snapshots(TAG))

    def find(self, backup_id: str) -> BackupInfo:
        """A backup by id, or `latest`."""
        backups = [b for b in self.backups() if b.complete]
        if backup_id == "latest" and backups:
            return backups[-1]
        for backup in backups:
            if backup.id == backup_id:
                return backup
        raise BackupError(f"no backup '{backup_id}' in {self.repository}")

    def verify(self, backup_id: str) -> VerifyReport:
        """Read every part of the backup back into a temporary folder and check it against
        its manifest: each file's sha256, each blob's name, the database copy whole."""
        backup = self.find(backup_id)
        report = VerifyReport(backup.id)
        with tempfile.TemporaryDirectory(prefix="mmstack-verify-") as scratch:
            try:
                manifest = self._read_manifest(backup, Path(scratch))
            except BackupError as exc:
                report.problems["manifest"] = exc.message
                return report

            def check(part: str) -> str | None:
                try:
                    _check_part(manifest, part, self._restore_part(backup, part, Path(scratch)))
                except (BackupError, ValueError, OSError) as exc:
                    return getattr(exc, "message", None) or str(exc)
                return None

            with ThreadPoolExecutor(len(manifest.parts)) as pool:
                found = dict(zip(manifest.parts, pool.map(check, manifest.parts), strict=True))
        report.problems.update({part: why for part, why in found.items() if why is not None})
        return report

    def restore(self, backup_id: str, storage: Storage, *, data_dir: Path) -> RestoreReport:
        """Put the backup's state in place of this installation's, whose database must
        hold no mmstack table (wiped, or new), then migrate it to this version's schema."""
        backup = self.find(backup_id)
        with tempfile.TemporaryDirectory(prefix="mmstack-restore-", dir=data_dir) as scratch:
            work = Path(scratch)
            manifest = self._read_manifest(backup, work)
            _refuse_unrestorable(manifest, storage)
            with ThreadPoolExecutor(len(manifest.parts)) as pool:
                read = pool.map(lambda part: self._restore_part(backup, part, work), manifest.parts)
                folders = dict(zip(manifest.parts, read, strict=True))
            for part, folder in folders.items():
                _check_part(manifest, part, folder)
            report = RestoreReport(manifest, manifest.schema_revision, migrate.HEAD)
            if "db" in folders:
                copy = next(p for p in folders["db"].iterdir() if p.is_file())
                load_database(storage.db.engine, copy, schema=manifest.database_schema)
                _restore_secrets(folders["db"] / "secrets", storage.secrets_dir)
            migrate.upgrade(storage.db.engine)
            if "blobs" in folders:
                report.blobs_stored = restore_blobs(storage.blobs, folders["blobs"], manifest.blobs)
            if "index" in folders:
                report.vectors = restore_vectors(
                    storage.db, storage.vectors, folders["index"] / "chunks", manifest.dimension
                )
                if storage.pictures is not None:
                    report.picture_vectors = restore_vectors(
                        storage.db,
                        storage.pictures,
                        folders["index"] / "pictures",
                        manifest.picture_dimension,
                    )
        return report

    @property
    def policy(self) -> KeepPolicy:
        return self._policy

    def rotate(self, *, dry_run: bool = False, now: float | None = None) -> list[BackupInfo]:
        """Forget the backups the keep policy does not keep (and prune their data)."""
        doomed = backups_to_forget(self.backups(), self._policy, now=now)
        if not dry_run:
            self.forget(doomed)
        return doomed

    def forget(self, backups: Sequence[BackupInfo]) -> None:
        """Remove the backups from the repository, and the data only they held."""
        self._restic.forget([s for b in backups for s in b.snapshots.values()])

    def _read_manifest(self, backup: BackupInfo, scratch: Path) -> Manifest:
        folder = self._restore_part(backup, "manifest", scratch)
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise BackupError(f"backup {backup.id} has no manifest")
        return Manifest.from_json(path.read_text(), source=f"backup {backup.id}")

    def _restore_part(self, backup: BackupInfo, part: str, scratch: Path) -> Path:
        snapshot = backup.snapshots.get(part)
        if snapshot is None:
            raise BackupError(f"backup {backup.id} lacks its {part} part")
        target = scratch / part
        try:
            self._restic.restore(snapshot, target)
        except BackupError as exc:
            raise BackupError(f"its {part} part cannot be read back: {exc.message}") from None
        folder = target / backup.paths.get(part, "").lstrip("/")
        if part not in backup.paths or not folder.is_dir():
            raise BackupError(f"backup {backup.id}: its {part} part is empty")
        return folder


def _check_part(manifest: Manifest, part: str, folder: Path) -> None:
    if part == "blobs":
        present = set(mirrored_blobs(folder))
        if missing := sorted(set(manifest.blobs) - present):
            raise BackupError(f"{len(missing)} blob(s) missing, e.g. {missing[0]}")
        for digest in manifest.blobs:
            if file_sha256(blob_file(folder, digest)) != digest:
                raise BackupError(f"blob {digest} does not hold the bytes it was saved with")
        return
    expected = {k: v for k, v in manifest.files.items() if k.split("/", 1)[0] == part}
    for relative, digest in expected.items():
        path = folder.parent / relative
        if not path.is_file():
            raise BackupError(f"{relative} is missing")
        if file_sha256(path) != digest:
            raise BackupError(f"{relative} does not match its sha256 in the manifest")
    if part == "db":
        copy = next(p for p in folder.iterdir() if p.is_file())
        check_database_copy(copy)
    if part == "index":
        for name in INDEXES:
            stem = folder / name
            if stem.with_suffix(".ids").exists():
                dimension = manifest.dimension if name == "chunks" else manifest.picture_dimension
                ids, _ = load_vectors(stem, dimension)
                wanted = manifest.vectors if name == "chunks" else manifest.picture_vectors
                if len(ids) != wanted:
                    raise BackupError(f"{name}: {len(ids)} vectors, the manifest says {wanted}")


def _refuse_unrestorable(manifest: Manifest, storage: Storage) -> None:
    known = migrate.known_revisions()
    if manifest.schema_revision is not None and manifest.schema_revision not in known:
        raise BackupError(
            f"backup {manifest.id} was made by mmstack {manifest.mmstack_version} at database "
            f"schema {manifest.schema_revision}, newer than this mmstack knows "
            f"({migrate.HEAD}): upgrade mmstack ({__version__}) before restoring it"
        )
    if manifest.database != storage.db.dialect and "db" in manifest.parts:
        raise BackupError(
            f"backup {manifest.id} holds a {manifest.database} database and this installation "
            f"uses {storage.db.dialect}: restore into the same kind (to move collections "
            "between kinds, use `mmstack collections export` and `import`)"
        )
    if (manifest.embedding_model, manifest.dimension) != (
        storage.embedding_model,
        storage.dimension,
    ):
        raise BackupError(
            f"backup {manifest.id} holds vectors of {manifest.embedding_model} "
            f"({manifest.dimension} dimensions); this installation embeds with "
            f"{storage.embedding_model} ({storage.dimension}): configure that model to restore"
        )


def _restore_secrets(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in SECRET_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
            (target / name).chmod(0o600)


class BackupRotation:
    """Backup rotation as a retention policy (`mmstack retention`, the scheduled run): the
    backups the keep policy lets go, each one item."""

    name = "backups"

    def __init__(self, service: Callable[[], BackupService | None]) -> None:
        # Built when first needed (a repository may be out of reach); None: no backups here.
        self._service = service

    def plan(self, now: float) -> list[RetentionItem]:
        try:
            service = self._service()
            backups = service.backups() if service else []
        except BackupError as exc:  # no restic, or a repository out of reach: nothing to rotate
            log.warning("backup rotation skipped", extra={"reason": exc.message})
            return []
        if service is None:
            return []
        doomed = backups_to_forget(backups, service.policy, now=now)
        return [
            RetentionItem(
                b.id,
                f"backup {b.id}" + ("" if b.complete else " (incomplete)"),
                detail={"snapshots": sorted(b.snapshots.values())},
            )
            for b in doomed
        ]

    def apply(self, items: Sequence[RetentionItem]) -> list[RetentionItem]:
        service = self._service()
        if service is None:
            return []
        present = {b.id: b for b in service.backups()}
        gone = [item for item in items if item.id in present]
        service.forget([present[item.id] for item in gone])
        return gone
