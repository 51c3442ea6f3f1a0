"""The composition root: builds every component from settings, in dependency order, and
closes them in reverse. The API's lifespan and each CLI command open one `Stack`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tokenizers import Tokenizer

from mmstack.answer import AnswerService
from mmstack.answer.chat import GroundedChat
from mmstack.auth.service import Auth, open_auth
from mmstack.config.settings import Settings
from mmstack.index.embeddings import EmbeddingService, TokenizerDecoder
from mmstack.index.image_search import ImageSearch
from mmstack.index.keyword import KeywordIndex
from mmstack.index.model_directory import ModelDirectory, ServedModel
from mmstack.index.search import SearchService
from mmstack.index.vector import VectorIndex
from mmstack.ingest.ingest_job import INGEST_JOB, IngestJob
from mmstack.ingest.parsers import ParseLimits
from mmstack.ingest.parsers.context import Isolation
from mmstack.ingest.periodic import PeriodicJob
from mmstack.ingest.reconcile import Reconciler
from mmstack.ingest.worker import JobHandler, JobWorker
from mmstack.knowledge.analytics import Analytics
from mmstack.knowledge.batches import FileBatchService
from mmstack.knowledge.collections import CollectionService
from mmstack.knowledge.conversations import ConversationService
from mmstack.knowledge.files import FileService
from mmstack.knowledge.intake import Intake
from mmstack.knowledge.knowledge_models import KnowledgeModels
from mmstack.knowledge.previews import PagePreviews
from mmstack.knowledge.search import CollectionSearch
from mmstack.llm.agents import AgentService
from mmstack.llm.api_conversations import ApiConversations
from mmstack.llm.factory import open_llm
from mmstack.llm.memories import MemoryService
from mmstack.llm.router import LlmRouter
from mmstack.llm.stored_responses import ResponseStore
from mmstack.models.contracts import TextReader, Transcriber
from mmstack.models.embedder import Embedder
from mmstack.models.on_demand import OnDemandEmbedder
from mmstack.models.registry import ModelRegistry
from mmstack.ops.backup import BackupRotation, Storage
from mmstack.ops.backup.configured import existing_backup_service
from mmstack.ops.retention import RETENTION_JOB, RetentionJob, RetentionService
from mmstack.stack.backups import BACKUP_JOB, backup_job
from mmstack.stack.builders import (
    blob_store,
    image_search,
    keyword_index,
    media_models,
    model_registry,
    optimize_when_due,
    picture_describer,
    text_embedder,
    vector_index,
)
from mmstack.stack.locks import DataDirLockedError as DataDirLockedError
from mmstack.stack.locks import lock_data_dir
from mmstack.store import migrate
from mmstack.store.blobs import BlobStore
from mmstack.store.db import Database
from mmstack.store.jobs import JobQueue
from mmstack.store.private import private_data_dir

log = logging.getLogger(__name__)


@dataclass
class Stack:
    settings: Settings
    db: Database
    blobs: BlobStore
    models: ModelRegistry
    embedder: Embedder
    vectors: VectorIndex
    keywords: KeywordIndex
    queue: JobQueue
    worker: JobWorker
    collections: CollectionService
    intake: Intake
    search: SearchService
    reconciler: Reconciler
    served_models: ModelDirectory
    embeddings: EmbeddingService
    files: FileService
    file_batches: FileBatchService
    store_search: CollectionSearch
    llm: LlmRouter
    answers: AnswerService
    grounded_chat: GroundedChat
    knowledge_models: KnowledgeModels
    stored_responses: ResponseStore
    api_conversations: ApiConversations
    agents: AgentService
    memories: MemoryService
    conversations: ConversationService
    previews: PagePreviews
    auth: Auth
    retention: RetentionService
    analytics: Analytics
    storage: Storage  # what a backup copies
    periodic: list[PeriodicJob]  # retention, backups: queued by the workers' start
    text_reader: TextReader | None = None  # OCR; None when `media.ocr` is off
    transcriber: Transcriber | None = None  # speech to text; None when off
    pictures: ImageSearch | None = None  # text-to-image search; None without a CLIP model

    def start_workers(self) -> None:
        """Start the job worker threads, with the periodic jobs queued when due."""
        for job in self.periodic:
            job.schedule()
        self.worker.start()

    def warm_in_background(self) -> None:
        """Load what the first requests would otherwise wait for (a server's start): the
        embedding model, and the keyword index's caches."""
        if isinstance(self.embedder, OnDemandEmbedder):
            self.embedder.warm_in_background()
        self.search.warm_in_background()


@contextmanager
def open_stack(
    settings: Settings, *, start_workers: bool = False, make_first_admin: bool = True
) -> Iterator[Stack]:
    """Open every component; with `start_workers`, job worker threads run in the background."""
    private_data_dir(settings.data_dir)
    with ExitStack() as resources:
        exclusive = settings.vector.backend == "edge"
        if exclusive:
            resources.callback(lock_data_dir(settings.data_dir).release)
        db = Database(settings.sqlalchemy_url)
        resources.callback(db.dispose)
        migrate.upgrade(db.engine)
        blobs = blob_store(settings)
        models = model_registry(settings)
        embedder = text_embedder(settings, models)
        vectors = vector_index(settings, embedder.dimension)
        resources.callback(vectors.close)
        queue = JobQueue(
            db,
            lease_seconds=settings.ingest.lease_seconds,
            retry_base_seconds=settings.ingest.retry_base_seconds,
            max_attempts=settings.ingest.max_attempts,
        )
        handlers: dict[str, JobHandler] = {}
        worker = JobWorker(
            queue,
            handlers,
            threads=settings.ingest.workers,
            batch_size=settings.ingest.batch_files,
            on_idle=lambda: optimize_when_due(vectors, settings.vector.optimize_after),
        )
        text_reader, transcriber = media_models(settings.media, models, settings.models_cache_dir)
        pictures = image_search(settings, models, resources)
        describer = picture_describer(settings.media)
        if describer is not None:
            resources.callback(describer.close)
        limits = ParseLimits(
            max_bytes=settings.ingest.max_file_bytes,
            max_image_pixels=settings.media.max_image_pixels,
        )
        intake = Intake(
            db,
            blobs,
            queue,
            ingest=settings.ingest,
            on_enqueue=worker.notify,
            limits=limits,
            duplicate_image_distance=settings.media.duplicate_image_distance,
        )
        handlers[INGEST_JOB] = IngestJob(
            db,
            blobs,
            embedder,
            vectors,
            ingest=settings.ingest,
            chunking=settings.chunking,
            limits=limits,
            text_reader=text_reader,
            transcriber=transcriber,
            describer=describer,
            pictures=pictures,
        ).run
        keywords = keyword_index(db.dialect, postings=settings.search.keyword_postings)
        resources.callback(keywords.close)
        search = SearchService(
            db,
            embedder,
            vectors,
            keywords,
            settings.search,
            images=pictures,
            image_weight=settings.media.clip_weight,
        )
        resources.callback(search.close)
        reconciler = Reconciler(
            db, embedder, vectors, blobs, derived=[pictures.index] if pictures else []
        )
        llm = open_llm(settings, models)
        resources.callback(llm.close)
        served_models = _served_models(settings, embedder, llm, transcriber)
        collections = CollectionService(db, vectors, blobs, intake)
        answers = AnswerService(search, llm, embedder, settings.answer)
        tokenizer = Tokenizer.from_file(str(models.paths(settings.embedding.model)["tokenizer"]))
        previews = PagePreviews(collections, blobs, Isolation.configured(settings.ingest))
        resources.callback(previews.close)
        files = FileService(db, blobs, vectors, intake)
        auth = open_auth(
            db,
            settings.auth,
            settings.quotas,
            settings.data_dir,
            make_first_admin=make_first_admin,
            link_minutes=settings.knowledge.citation_link_minutes,
        )
        retention = RetentionService(
            db,
            files,
            auth.audit,
            reconciler,
            settings.retention,
            policies=[BackupRotation(lambda: existing_backup_service(settings))],
        )
        analytics = Analytics(db, record_queries=settings.search.record_queries)
        resources.callback(analytics.close)
        retention_job = RetentionJob(
            retention, queue, interval_hours=settings.retention.interval_hours
        )
        handlers[RETENTION_JOB] = retention_job.run
        storage = Storage(
            db=db,
            blobs=blobs,
            vectors=vectors,
            pictures=pictures.index if pictures else None,
            secrets_dir=settings.data_dir / "secrets",
            embedding_model=embedder.model_id,
            dimension=embedder.dimension,
        )
        backups = backup_job(settings, queue, storage)
        handlers[BACKUP_JOB] = backups.run
        stack = Stack(
            settings=settings,
            db=db,
            blobs=blobs,
            models=models,
            embedder=embedder,
            vectors=vectors,
            keywords=keywords,
            queue=queue,
            worker=worker,
            collections=collections,
            intake=intake,
            search=search,
            reconciler=reconciler,
            served_models=served_models,
            embeddings=EmbeddingService(
                embedder,
                TokenizerDecoder(tokenizer),
                served_models,
                # The encoder's window holds two special tokens besides the text.
                max_input_tokens=settings.embedding.max_tokens - 2,
            ),
            files=files,
            file_batches=FileBatchService(db, intake),
            store_search=CollectionSearch(db, search),
            llm=llm,
            answers=answers,
            grounded_chat=GroundedChat(answers, collections.addressed_as("vector_store_id")),
            knowledge_models=KnowledgeModels(
                collections,
                settings.knowledge,
                answer_model=settings.answer.model or settings.llm.default_model,
            ),
            stored_responses=ResponseStore(db, keep_days=settings.llm.stored_response_days),
            api_conversations=ApiConversations(db),
            agents=AgentService(db),
            memories=MemoryService(db, embedder.embed),
            conversations=ConversationService(db),
            previews=previews,
            auth=auth,
            retention=retention,
            analytics=analytics,
            storage=storage,
            periodic=[retention_job, backups],
            text_reader=text_reader,
            transcriber=transcriber,
            pictures=pictures,
        )
        if exclusive:
            recovered = queue.recover_abandoned()
            if recovered:
                log.info("requeued jobs of a previous run", extra={"jobs": recovered})
        report = reconciler.run()
        if report.changed:
            log.info("reconciled vector index and blobs", extra=report.as_dict())
        if start_workers and settings.ingest.workers > 0:
            stack.start_workers()
            resources.callback(worker.stop)
        yield stack


def _served_models(
    settings: Settings, embedder: Embedder, llm: LlmRouter, transcriber: Transcriber | None
) -> ModelDirectory:
    """The models `/v1/models` lists: the embedder, speech to text when on, the LLMs."""
    started = int(time.time())
    speech = ("whisper-1", settings.media.speech_model) if transcriber is not None else ()
    return ModelDirectory(
        [
            ServedModel(embedder.model_id, "embedding", started),
            *(ServedModel(model_id, "speech-to-text", started) for model_id in speech),
            *(ServedModel(card.id, "chat", started, card.owned_by) for card in llm.list_models()),
        ]
    )
