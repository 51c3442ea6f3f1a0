"""Builders of the stack's parts that depend on settings: the model registry, the media
models (each loaded when first needed), the blob store, the vector and keyword indexes for
the database and backend configured, picture search."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

from mmstack.config.settings import MediaSettings, Settings
from mmstack.errors import MMStackError
from mmstack.index.image_search import ImageSearch
from mmstack.index.keyword import KeywordIndex, SqliteFtsKeywordIndex
from mmstack.index.keyword_postings import Bm25Postings
from mmstack.index.vector import VectorIndex
from mmstack.models.catalog import BUNDLED_MODELS, load_onnx_embedder
from mmstack.models.clip import CLIP_FILES, PREPROCESS_FILE, OnnxClipEmbedder, load_clip
from mmstack.models.contracts import TextReader, Transcriber
from mmstack.models.embedder import Embedder, OnnxSentenceEmbedder
from mmstack.models.on_demand import OnDemandEmbedder, OnDemandTextReader, OnDemandTranscriber
from mmstack.models.quantize import dynamic_int8
from mmstack.models.registry import FileSource, HubFile, LocalFile, ModelRegistry, ModelSpec
from mmstack.models.vision import DEFAULT_PROMPT, OpenAIVisionDescriber
from mmstack.store.blobs import BlobStore, LocalBlobStore

log = logging.getLogger(__name__)


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
            # Imported here: the speech model's audio decoding (PyAV) is a heavy import.
            from mmstack.models.transcriber import load_whisper

            return load_whisper(
                models,
                cache_dir=cache_dir,
                model_id=settings.speech_model,
                threads=settings.speech_threads,
                beam_size=settings.speech_beam_size,
            )

        transcriber = OnDemandTranscriber(load_speech)
    return text_reader, transcriber


def blob_store(settings: Settings) -> BlobStore:
    """Where files live: the data directory, or an S3-compatible bucket (whose local copies
    for decoders are cached in the data directory)."""
    if settings.blobs.backend == "s3":
        from mmstack.store.blobs_s3 import S3BlobStore

        store = S3BlobStore.from_settings(settings.blobs, settings.data_dir / "blob-cache")
        if settings.blobs.create_bucket:
            store.ensure_bucket(settings.blobs.region)
        return store
    return LocalBlobStore(settings.data_dir / "blobs")


def vector_index(settings: Settings, dimension: int, *, suffix: str = "") -> VectorIndex:
    """The vector index of chunk texts; with `suffix`, another one beside it (pictures)."""
    if settings.vector.backend == "qdrant":
        from mmstack.index.vector_qdrant import QdrantServerVectorIndex, server_client

        client = server_client(settings.vector)
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
    index = vector_index(settings, embedder.dimension, suffix="images")
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


def keyword_index(dialect: str, *, postings: bool) -> KeywordIndex:
    """The database's keyword index; on SQLite `postings` keeps them in memory."""
    if dialect == "sqlite":
        return SqliteFtsKeywordIndex(Bm25Postings() if postings else None)
    if dialect == "postgresql":
        from mmstack.index.keyword_postgres import PostgresKeywordIndex

        return PostgresKeywordIndex()
    raise ValueError(f"no keyword index for database dialect {dialect!r}")


def text_embedder(settings: Settings, models: ModelRegistry) -> Embedder:
    """The text embedding model: loaded when first needed (a server warms it in the
    background) when its registry entry gives its dimension, which the vector index needs
    at once; loaded now otherwise."""
    emb = settings.embedding
    spec = models.spec(emb.model)
    declared = spec.options.get("dimension")

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

    def load() -> OnnxSentenceEmbedder:
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

    if declared is None:
        return load()
    return OnDemandEmbedder(spec.id, int(declared), load)
