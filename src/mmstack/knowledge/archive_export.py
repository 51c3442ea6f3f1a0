"""A collection written to one archive (`archive_format.py`), for `CollectionArchives`.

Nothing is held in memory whole: the rows are written to a staging directory beside the
archive as they are read, the vectors go into a memory-mapped array, and the blobs are
streamed from the blob store into the tar. The archive is written under a temporary name
and renamed once complete, so a failed export leaves nothing at `out`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from mmstack import __version__
from mmstack.arrays import FloatArray
from mmstack.errors import ConflictError, InvalidRequestError
from mmstack.index.vector import VectorIndex
from mmstack.knowledge import archive_format as fmt
from mmstack.knowledge.archive_format import ArchiveReport, ChunkRecord, FileRecord, IdArray
from mmstack.models.embedder import Embedder
from mmstack.store import migrate
from mmstack.store.archive_rows import assets_of, chunks_of_members
from mmstack.store.blobs import BlobStore, file_sha256
from mmstack.store.chunks import chunks_to_embed
from mmstack.store.collections import members_of
from mmstack.store.db import Database
from mmstack.store.models import Collection, FileStatus

EMBED_BATCH = 256
SCAN_BATCH = 4096  # index points matched against the collection's chunks at a time
_STAGED = (fmt.COLLECTION, fmt.FILES, fmt.CHUNKS, fmt.VECTOR_IDS, fmt.VECTORS)


def export_collection(
    collection: Collection,
    out: Path,
    *,
    db: Database,
    blobs: BlobStore,
    vectors: VectorIndex,
    embedder: Embedder,
    overwrite: bool = False,
) -> ArchiveReport:
    """Write `collection` to the archive `out` (.tar, or gzip-compressed .tar.gz or .tgz)."""
    compress = fmt.compressed(out)
    if not out.parent.is_dir():
        raise InvalidRequestError(f"directory {out.parent} does not exist", param="out")
    if out.is_dir() or (out.exists() and not overwrite):
        raise InvalidRequestError(f"{out} already exists", param="out")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        staged = Path(tmp)
        record = fmt.CollectionRecord(
            name=collection.name,
            description=collection.description,
            metadata=collection.metadata_,
        )
        (staged / fmt.COLLECTION).write_text(record.model_dump_json(), encoding="utf-8")
        with db.session() as session:
            files, digests, completed = _write_files(session, collection.id, staged / fmt.FILES)
            chunk_ids = _write_chunks(session, completed, staged / fmt.CHUNKS, digests)
        _write_vectors(chunk_ids, staged, db=db, vectors=vectors, embedder=embedder)
        kept = sorted(d for d in digests if blobs.exists(d))
        members = {
            name: fmt.MemberDigest(
                sha256=file_sha256(staged / name), size=(staged / name).stat().st_size
            )
            for name in _STAGED
        }
        for digest in kept:
            members[fmt.BLOBS + digest] = fmt.MemberDigest(sha256=digest, size=blobs.size(digest))
        count = len(chunk_ids)
        manifest = fmt.Manifest(
            format=fmt.FORMAT,
            format_version=fmt.FORMAT_VERSION,
            mmstack_version=__version__,
            schema_revision=migrate.current_revision(db.engine),
            exported_at=int(time.time()),
            embedding=fmt.EmbeddingInfo(model=embedder.model_id, dimension=vectors.dimension),
            counts={"files": files, "chunks": count, "vectors": count, "blobs": len(kept)},
            members=members,
        )
        _write_archive(out, manifest, staged, blobs, compress=compress)
    return ArchiveReport(collection.id, collection.name, files, count, count, len(kept))


def _write_files(
    session: Session, collection_id: str, path: Path
) -> tuple[int, set[str], list[int]]:
    """Write the collection's files; returns their count, the digests of their blobs and
    the membership ids of the completed ones. A file waiting for ingestion or being
    ingested is written as queued: the importing installation ingests it again."""
    members = members_of(session, collection_id)
    assets = assets_of(session, [m.file_id for m in members])
    digests: set[str] = set()
    completed: list[int] = []
    with path.open("w", encoding="utf-8") as lines:
        for member in members:
            stored, derived = member.file, assets.get(member.file_id, [])
            digests.update([stored.sha256, *(a.key for a in derived)])
            if stored.thumbnail:
                digests.add(stored.thumbnail)
            waiting = member.status not in (FileStatus.COMPLETED, FileStatus.FAILED)
            if member.status == FileStatus.COMPLETED:
                completed.append(member.id)
            record = FileRecord(
                id=stored.id,
                filename=stored.filename,
                media_type=stored.media_type,
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                purpose=stored.purpose,
                created_at=stored.created_at,
                media_info=stored.media_info,
                thumbnail=stored.thumbnail,
                perceptual_hash=stored.perceptual_hash,
                assets=[fmt.AssetRecord(key=a.key, media_type=a.media_type) for a in derived],
                member_sha256=member.sha256,
                status=FileStatus.QUEUED if waiting else member.status,
                last_error=None if waiting else member.last_error,
                error_code=None if waiting else member.error_code,
                progress=0.0 if waiting else member.progress,
                chunk_count=member.chunk_count if member.status == FileStatus.COMPLETED else 0,
                tags=member.tags,
                attributes=member.attributes,
                added_at=member.created_at,
                updated_at=member.updated_at,
            )
            lines.write(record.model_dump_json() + "\n")
    return len(members), digests, completed


def _write_chunks(
    session: Session, member_ids: list[int], path: Path, digests: set[str]
) -> IdArray:
    """Write the chunks of the completed files; returns their ids, in the order written."""
    ids: list[int] = []
    with path.open("w", encoding="utf-8") as lines:
        for chunk in chunks_of_members(session, member_ids):
            lines.write(ChunkRecord.model_validate(chunk, from_attributes=True).model_dump_json())
            lines.write("\n")
            ids.append(chunk.id)
            if chunk.thumbnail:
                digests.add(chunk.thumbnail)
    return np.array(ids, dtype=np.int64)


def _write_vectors(
    chunk_ids: IdArray, staged: Path, *, db: Database, vectors: VectorIndex, embedder: Embedder
) -> None:
    """The chunks' vectors, in the order of `chunk_ids`, read from the index; a chunk
    whose vector is missing (not yet restored by the reconciler) is embedded again."""
    np.save(staged / fmt.VECTOR_IDS, chunk_ids)
    shape = (len(chunk_ids), vectors.dimension)
    if not len(chunk_ids):  # an empty file cannot be memory-mapped
        np.save(staged / fmt.VECTORS, np.zeros(shape, dtype=np.float32))
        return
    matrix = np.lib.format.open_memmap(
        staged / fmt.VECTORS, mode="w+", dtype=np.float32, shape=shape
    )
    order = np.argsort(chunk_ids)
    ordered = chunk_ids[order]
    found = np.zeros(len(chunk_ids), dtype=np.bool_)
    for ids, batch in _batched(vectors.iter_vectors()):
        at = np.minimum(np.searchsorted(ordered, ids), len(ordered) - 1)
        wanted = ordered[at] == ids
        rows = order[at[wanted]]
        matrix[rows] = batch[wanted]
        found[rows] = True
    missing = np.flatnonzero(~found)
    for start in range(0, len(missing), EMBED_BATCH):
        rows = missing[start : start + EMBED_BATCH]
        with db.session() as session:
            texts = {c.id: c.text for c, *_ in chunks_to_embed(session, chunk_ids[rows].tolist())}
        if len(texts) < len(rows):
            raise ConflictError("the collection changed during the export; export it again")
        matrix[rows] = embedder.embed([texts[int(i)] for i in chunk_ids[rows]])
    matrix.flush()
    del matrix


def _batched(points: Iterator[tuple[int, FloatArray]]) -> Iterator[tuple[IdArray, FloatArray]]:
    """The index's points as (ids, vectors) arrays of up to `SCAN_BATCH` rows."""
    while taken := list(islice(points, SCAN_BATCH)):
        yield np.array([i for i, _ in taken], dtype=np.int64), np.stack([v for _, v in taken])


def _write_archive(
    out: Path, manifest: fmt.Manifest, staged: Path, blobs: BlobStore, *, compress: bool
) -> None:
    """The archive, written beside `out` and renamed to it once complete."""
    fd, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    os.close(fd)
    try:
        with fmt.open_for_writing(Path(partial), compress=compress) as archive:
            fmt.add_bytes(archive, fmt.MANIFEST, manifest.model_dump_json(indent=1).encode())
            for name, digest in manifest.members.items():
                if name.startswith(fmt.BLOBS):
                    with blobs.open(digest.sha256) as source:
                        fmt.add_member(archive, name, source, digest.size)
                else:
                    with (staged / name).open("rb") as source:
                        fmt.add_member(archive, name, source, digest.size)
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
