"""The backup service and the storage it copies, built from settings: from an open stack
(a backup taken while the stack serves), or on their own (a restore, which must not
migrate or reconcile the database it is about to replace)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Final

from mmstack.config.settings import Settings
from mmstack.ingest.periodic import Heartbeat, PeriodicJob
from mmstack.ops.backup import Storage
from mmstack.ops.backup.configured import backup_service
from mmstack.stack.builders import blob_store, model_registry, vector_index
from mmstack.stack.locks import lock_data_dir
from mmstack.store.db import Database
from mmstack.store.jobs import JobQueue
from mmstack.store.private import private_data_dir

BACKUP_JOB: Final = "backup"


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
