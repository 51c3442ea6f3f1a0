"""The composition root: builds every component from settings, in dependency order, and
closes them in reverse. The API's lifespan and each CLI command open one `Stack`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from tokenizers import Tokenizer

from mmstack.answer import AnswerService
from mmstack.answer.chat import GroundedChat
from mmstack.auth.service import Auth, open_auth
from mmstack.config.settings import MediaSettings, Settings
from mmstack.errors import MMStackError
from mmstack.index.embeddings import EmbeddingService, TokenizerDecoder
from mmstack.index.image_search import ImageSearch
from mmstack.index.keyword import KeywordIndex, SqliteFtsKeywordIndex
from mmstack.index.keyword_postings import Bm25Postings
from mmstack.index.model_directory import ModelDirectory, ServedModel
from mmstack.index.search import SearchService
from mmstack.index.vector import VectorIndex
from mmstack.ingest.collections import CollectionService
from mmstack.ingest.file_batches import FileBatchService
from mmstack.ingest.files import FileService
from mmstack.ingest.jobs import JobHandler, JobQueue, JobWorker
from mmstack.ingest.parsers import ParseLimits
from mmstack.ingest.reconcile import Reconciler
from mmstack.ingest.service import INGEST_JOB, IngestionService
from mmstack.ingest.vector_store_search import VectorStoreSearch
from mmstack.ingest.vector_stores import VectorStoreService
from mmstack.llm.factory import open_llm
from mmstack.llm.router import LlmRouter
from mmstack.llm.stored_responses import ResponseStore
from mmstack.models.catalog import BUNDLED_MODELS, load_onnx_embedder
from mmstack.models.clip import CLIP_FILES, PREPROCESS_FILE, OnnxClipEmbedder, load_clip
from mmstack.models.contracts import TextReader, Transcriber
from mmstack.models.embedder import Embedder, OnnxSentenceEmbedder
from mmstack.models.on_demand import OnDemandEmbedder, OnDemandTextReader, OnDemandTranscriber
from mmstack.models.quantize import dynamic_int8
from mmstack.models.registry import FileSource, HubFile, LocalFile, ModelRegistry, ModelSpec
from mmstack.models.transcriber import load_whisper
from mmstack.models.vision import DEFAULT_PROMPT, OpenAIVisionDescriber
from mmstack.store import migrate
from mmstack.store.blobs import BlobStore, LocalBlobStore
from mmstack.store.db import Database
from mmstack.store.private import private_data_dir

log = logging.getLogger(__name__)


class DataDirLockedError(MMStackError):
    code = "data_dir_locked"


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
    ingestion: IngestionService
    search: SearchService
    reconciler: Reconciler
    served_models: ModelDirectory
    embeddings: EmbeddingService
    files: FileService
    vector_stores: VectorStoreService
    file_batches: FileBatchService
    store_search: VectorStoreSearch
    llm: LlmRouter
    answers: AnswerService
    grounded_chat: GroundedChat
    stored_responses: ResponseStore
    auth: Auth
    text_reader: TextReader | None = None  # OCR; None when `media.ocr` is off
    transcriber: Transcriber | None = None  # speech to text; None when off
    pictures: ImageSearch | None = None  # text-to-image search; None without a CLIP model

    def warm_in_background(self) -> None:
        """Load what the first requests would otherwise wait for (a server's start): the
        embedding model, and the keyword index's caches."""
        if isinstance(self.embedder, OnDemandEmbedder):
            self.embedder.warm_in_background()
        self.search.warm_in_background()


def model_registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(BUNDLED_MODELS, settings.models_cache_dir)


def picture_describer(settings: MediaSettings) -> OpenAIVisionDescriber | None:
    """The vision model that captions pictures, when one is configured."""
    if not settings.caption_url or not settings.caption_model:
        return None
    key = settings.caption_api_key
    return OpenAIVisionDescriber(
        settings.caption_url,
        settings.caption_model,
        api_key=key.get_secret_value() if key else None,
        prompt=settings.caption_prompt or DEFAULT_PROMPT,
        timeout=settings.caption_timeout,
    )


def media_models(
    settings: MediaSettings, models: ModelRegistry, cache_dir: Path
) -> tuple[TextReader | None, Transcriber | None]:
    """OCR and speech to text as configured, each loaded on the first file that needs it."""
    text_reader = transcriber = None
    if settings.ocr:
        models.spec(settings.ocr_model)  # an unknown model fails at start-up, not later

        def load_ocr() -> TextReader:
            # Imported here: RapidOCR and OpenCV cost a start that reads no picture.
            from mmstack.models.ocr import RapidTextReader, load_text_reader

            def loader(spec: ModelSpec, paths: dict[str, Path]) -> RapidTextReader:
                return load_text_reader(spec, paths, threads=settings.ocr_threads)

            return models.load(settings.ocr_model, loader, options=(settings.ocr_threads,))

        text_reader = OnDemandTextReader(load_ocr)
    if settings.speech_to_text:
        models.spec(settings.speech_model)

        def load_speech() -> Transcriber:
            return load_whisper(
                models,
                cache_dir=cache_dir,
                model_id=settings.speech_model,
                threads=settings.speech_threads,
                beam_size=settings.speech_beam_size,
            )

        transcriber = OnDemandTranscriber(load_speech)
    return text_reader, transcriber


def _lock_data_dir(data_dir: Path) -> FileLock:
    lock = FileLock(data_dir / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise DataDirLockedError(
            f"data directory {data_dir} is in use by another mmstack process "
            "(a running server?); stop it first, or point MMSTACK_DATA_DIR elsewhere"
        ) from None
    return lock


def _vector_index(settings: Settings, dimension: int, *, suffix: str = "") -> VectorIndex:
    """The vector index of chunk texts; with `suffix`, another one beside it (pictures)."""
    if settings.vector.backend == "qdrant":
        from qdrant_client import QdrantClient

        from mmstack.index.vector_qdrant import QdrantServerVectorIndex

        client = QdrantClient(
            url=settings.vector.qdrant_url, api_key=settings.vector.qdrant_api_key
        )
        name = settings.vector.qdrant_collection + (f"_{suffix}" if suffix else "")
        return QdrantServerVectorIndex(client, name, dimension)
    from mmstack.index.vector_edge import EdgeVectorIndex

    folder = "vectors" + (f"-{suffix}" if suffix else "")
    return EdgeVectorIndex(settings.data_dir / folder, dimension, hnsw_ef=settings.vector.hnsw_ef)


def clip_spec(settings: MediaSettings) -> ModelSpec | None:
    """The CLIP-style model configured for text-to-image search, as a registry entry."""
    names = (*CLIP_FILES, PREPROCESS_FILE)
    files: dict[str, FileSource]
    if settings.clip_model_dir is not None:
        folder = settings.clip_model_dir
        files = {n: LocalFile(folder / n) for n in names if (folder / n).exists()}
        model_id = f"clip:{folder.name}"
    elif settings.clip_hub_id is not None:
        files = {n: HubFile(settings.clip_hub_id, n) for n in CLIP_FILES}
        model_id = f"clip:{settings.clip_hub_id}"
    else:
        return None
    if missing := [n for n in CLIP_FILES if n not in files]:
        raise MMStackError(f"CLIP model at {settings.clip_model_dir} lacks {', '.join(missing)}")
    description = "CLIP-style image and text embedder (text-to-image search)"
    return ModelSpec(id=model_id, task="image-embedding", description=description, files=files)


def image_search(
    settings: Settings, models: ModelRegistry, resources: ExitStack
) -> ImageSearch | None:
    spec = clip_spec(settings.media)
    if spec is None:
        return None
    models.add(spec)
    threads = settings.media.clip_threads

    def loader(spec: ModelSpec, paths: dict[str, Path]) -> OnnxClipEmbedder:
        return load_clip(paths, threads=threads, model_id=spec.id)

    embedder = models.load(spec.id, loader, options=(threads,))
    index = _vector_index(settings, embedder.dimension, suffix="images")
    resources.callback(index.close)
    return ImageSearch(embedder, index)


def optimize_when_due(vectors: VectorIndex, unindexed_threshold: int) -> None:
    """Build the vector search graph once enough vectors are unindexed. Searches before
    that scan exactly (correct, slower as the index grows)."""
    if unindexed_threshold <= 0:
        return
    stats = vectors.stats()
    if stats.points - stats.indexed >= unindexed_threshold:
        log.info("optimizing vector index", extra={"unindexed": stats.points - stats.indexed})
        vectors.optimize()


@contextmanager
def open_stack(
    settings: Settings, *, start_workers: bool = False, make_first_admin: bool = True
) -> Iterator[Stack]:
    """Open every component; with `start_workers`, job worker threads run in the background."""
    private_data_dir(settings.data_dir)
    with ExitStack() as resources:
        exclusive = settings.vector.backend == "edge"
        if exclusive:
            resources.callback(_lock_data_dir(settings.data_dir).release)
        db = Database(settings.sqlalchemy_url)
        resources.callback(db.dispose)
        migrate.upgrade(db.engine)
        blobs = LocalBlobStore(settings.data_dir / "blobs")
        models = model_registry(settings)
        emb = settings.embedding

        def loader(spec: ModelSpec, paths: dict[str, Path]) -> OnnxSentenceEmbedder:
            query_model = None
            if emb.query_model == "dynamic-int8":
                query_model = dynamic_int8(
                    paths["model"],
                    settings.models_cache_dir / "quantized",
                    source_sha256=spec.files["model"].sha256,
                )
            return load_onnx_embedder(
                spec,
                paths,
                max_tokens=emb.max_tokens,
                batch_size=emb.batch_size,
                threads=emb.threads,
                query_model_path=query_model,
            )

        def load_embedder() -> OnnxSentenceEmbedder:
            loaded = models.load(
                emb.model,
                loader,
                options=(emb.max_tokens, emb.batch_size, emb.threads, emb.query_model),
            )
            if declared is not None and loaded.dimension != declared:
                raise MMStackError(
                    f"embedding model {emb.model} makes {loaded.dimension}-dimensional "
                    f"vectors, not the {declared} its registry entry says"
                )
            return loaded

        # Loaded when first needed (a server warms it in the background) when its
        # registry entry gives its dimension, which the vector index needs now.
        spec = models.spec(emb.model)
        declared = spec.options.get("dimension")
        embedder: Embedder = (
            OnDemandEmbedder(spec.id, int(declared), load_embedder)
            if declared is not None
            else load_embedder()
        )
        vectors = _vector_index(settings, embedder.dimension)
        resources.callback(vectors.close)
        queue = JobQueue(
            db,
            lease_seconds=settings.ingest.lease_seconds,
            retry_base_seconds=settings.ingest.retry_base_seconds,
            max_attempts=settings.ingest.max_attempts,
        )
        collections = CollectionService(db, vectors, blobs)
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
        ingestion = IngestionService(
            db,
            blobs,
            embedder,
            vectors,
            queue,
            ingest=settings.ingest,
            chunking=settings.chunking,
            on_enqueue=worker.notify,
            text_reader=text_reader,
            transcriber=transcriber,
            describer=describer,
            pictures=pictures,
            limits=ParseLimits(
                max_bytes=settings.ingest.max_file_bytes,
                max_image_pixels=settings.media.max_image_pixels,
            ),
            duplicate_image_distance=settings.media.duplicate_image_distance,
        )
        handlers[INGEST_JOB] = ingestion.run_jobs
        keywords = _keyword_index(db.dialect, postings=settings.search.keyword_postings)
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
        started = int(time.time())
        served_models = ModelDirectory(
            [
                ServedModel(embedder.model_id, "embedding", started),
                *(
                    ServedModel(model_id, "speech-to-text", started)
                    for model_id in ("whisper-1", settings.media.speech_model)
                    if transcriber is not None
                ),
                *(
                    ServedModel(card.id, "chat", started, card.owned_by)
                    for card in llm.list_models()
                ),
            ]
        )
        tokenizer = Tokenizer.from_file(str(models.paths(emb.model)["tokenizer"]))
        vector_stores = VectorStoreService(db, collections, ingestion)
        answers = AnswerService(search, llm, embedder, settings.answer)
        stack = Stack(
            settings,
            db,
            blobs,
            models,
            embedder,
            vectors,
            keywords,
            queue,
            worker,
            collections,
            ingestion,
            search,
            reconciler,
            served_models=served_models,
            embeddings=EmbeddingService(
                embedder,
                TokenizerDecoder(tokenizer),
                served_models,
                # The encoder's window holds two special tokens besides the text.
                max_input_tokens=emb.max_tokens - 2,
            ),
            files=FileService(db, blobs, vectors, max_file_bytes=settings.ingest.max_file_bytes),
            vector_stores=vector_stores,
            file_batches=FileBatchService(db, ingestion),
            store_search=VectorStoreSearch(db, search),
            llm=llm,
            answers=answers,
            grounded_chat=GroundedChat(answers, vector_stores),
            stored_responses=ResponseStore(db, keep_days=settings.llm.stored_response_days),
            auth=open_auth(
                db,
                settings.auth,
                settings.quotas,
                settings.data_dir,
                make_first_admin=make_first_admin,
            ),
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
            worker.start()
            resources.callback(worker.stop)
        yield stack


def _keyword_index(dialect: str, *, postings: bool) -> KeywordIndex:
    """The database's keyword index; on SQLite `postings` keeps them in memory."""
    if dialect == "sqlite":
        return SqliteFtsKeywordIndex(Bm25Postings() if postings else None)
    if dialect == "postgresql":
        from mmstack.index.keyword_postgres import PostgresKeywordIndex

        return PostgresKeywordIndex()
    raise ValueError(f"no keyword index for database dialect {dialect!r}")
