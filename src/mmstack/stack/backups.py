"""The backup service and the storage it copies, built from settings: from an open stack
(a backup taken while the stack serves), or on their own (a restore, which must not
migrate or reconcile the database it is about to replace)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final, NoReturn

from mmstack.auth.access_tokens import deployment_key
from mmstack.config.settings import Settings
from mmstack.ingest.periodic import Heartbeat, PeriodicJob
from mmstack.ops.backup import BackupError, BackupService, KeepPolicy, Restic, Storage
from mmstack.stack.builders import blob_store, model_registry, vector_index
from mmstack.stack.locks import lock_data_dir
from mmstack.store.db import Database
from mmstack.store.jobs import JobQueue
from mmstack.store.private import private_data_dir

BACKUP_JOB: Final = "backup"
PASSWORD_FILE = "backup-password"  # noqa: S105 (a file name)


def default_repository(data_dir: Path) -> Path:
    """Beside the data directory, so that wiping the data never takes the backups along."""
    return data_dir.parent / f"{data_dir.name}-backups"


def backup_service(settings: Settings) -> BackupService:
    config = settings.backup
    repository = config.repository or str(default_repository(settings.data_dir))
    environment: dict[str, str] = {}
    if repository.startswith("s3:"):
        if config.password is None:
            raise_password_needed(repository)
        if config.s3_access_key_id and config.s3_secret_access_key:
            environment["AWS_ACCESS_KEY_ID"] = config.s3_access_key_id
            environment["AWS_SECRET_ACCESS_KEY"] = config.s3_secret_access_key.get_secret_value()
        environment["AWS_DEFAULT_REGION"] = config.s3_region
    password = (
        config.password.get_secret_value()
        if config.password
        else deployment_key(None, settings.data_dir / "secrets" / PASSWORD_FILE).hex()
    )
    restic = Restic(
        repository,
        password,
        program=config.restic,
        environment=environment,
        cache_dir=settings.data_dir / "backup-cache",
    )
    policy = KeepPolicy(
        last=config.keep_last,
        daily=config.keep_daily,
        weekly=config.keep_weekly,
        monthly=config.keep_monthly,
    )
    return BackupService(restic, settings.data_dir / "backup-staging", policy)


def existing_backup_service(settings: Settings) -> BackupService | None:
    """The backup service when backups were ever set up here (a configured password, or
    the one the first backup generated); None otherwise, so that merely looking (retention's
    plan) generates no password."""
    generated = settings.data_dir / "secrets" / PASSWORD_FILE
    if settings.backup.password is None and not generated.exists():
        return None
    return backup_service(settings)


def raise_password_needed(repository: str) -> NoReturn:
    raise BackupError(
        f"the backup repository {repository} is not on this machine: set its password "
        "(MMSTACK_BACKUP__PASSWORD or MMSTACK_BACKUP__PASSWORD_FILE) and keep a copy apart "
        "from the data"
    )


def backup_job(settings: Settings, queue: JobQueue, storage: Storage) -> PeriodicJob:
    """Backups taken by the job workers: every `backup.interval_hours`, or when asked
    (`mmstack backup create` while a server holds the data directory), each followed by
    rotation."""

    def run(heartbeat: Heartbeat) -> None:
        service = backup_service(settings)
        service.create(storage)
        service.rotate()

    return PeriodicJob(BACKUP_JOB, queue, run, interval_hours=settings.backup.interval_hours)


@contextmanager
def open_storage(settings: Settings) -> Iterator[Storage]:
    """The database, blob store and vector indexes alone: no migration, no reconciliation,
    no model loaded (the embedding model's registry entry gives its dimension)."""
    private_data_dir(settings.data_dir)
    with ExitStack() as resources:
        if settings.vector.backend == "edge":
            resources.callback(lock_data_dir(settings.data_dir).release)
        db = Database(settings.sqlalchemy_url)
        resources.callback(db.dispose)
        spec = model_registry(settings).spec(settings.embedding.model)
        dimension = int(spec.options["dimension"])
        vectors = vector_index(settings, dimension)
        resources.callback(vectors.close)
        pictures = None
        if settings.media.clip_model_dir or settings.media.clip_hub_id:
            from mmstack.stack.builders import image_search

            search = image_search(settings, model_registry(settings), resources)
            pictures = search.index if search else None
        yield Storage(
            db=db,
            blobs=blob_store(settings),
            vectors=vectors,
            pictures=pictures,
            secrets_dir=settings.data_dir / "secrets",
            embedding_model=spec.id,
            dimension=dimension,
        )
