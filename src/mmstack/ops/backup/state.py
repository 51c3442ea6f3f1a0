"""mmstack's state as a backup holds it, and putting it back.

A backup is taken in this order, so that it is one consistent state although ingestion and
deletions go on: the blobs already stored are linked into the staging folder (no bytes
copied); the database is copied (one transaction's state); from that copy come the chunks
of completed files, whose vectors are saved, and the blobs it uses (any not linked yet are
added). A vector the index lost meanwhile (its file re-ingested or deleted after the copy)
is recorded as missing and re-embedded from the restored chunk text, so a restored
completed file is always whole; every other vector is left out (a file still being
ingested in the copy is ingested again after the restore).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mmstack.arrays import FloatArray
from mmstack.index.vector import VectorIndex
from mmstack.ingest.reconcile import chunk_points
from mmstack.ops.backup.database import database_snapshot
from mmstack.ops.backup.manifest import Counts, Manifest
from mmstack.store.blob_refs import referenced_blobs
from mmstack.store.blobs import READ_BLOCK, BlobStore, LocalBlobStore, file_sha256
from mmstack.store.chunks import all_chunk_ids, chunks_to_embed, searchable_chunk_ids
from mmstack.store.db import Database
from mmstack.store.models import Collection, CollectionFile, FileStatus, StoredFile

BATCH: Final = 512
# Secrets that belong with the database (what it holds is encrypted or signed with them);
# the backup repository's own password is never in a backup.
SECRET_FILES: Final = ("token-signing.key", "data-encryption.key")
INDEXES: Final = ("chunks", "pictures")


@dataclass
class Storage:
    """What a backup copies and a restore puts back."""

    db: Database
    blobs: BlobStore
    vectors: VectorIndex
    pictures: VectorIndex | None
    secrets_dir: Path
    embedding_model: str
    dimension: int


def capture(storage: Storage, staging: Path, parts: Sequence[str], manifest: Manifest) -> None:
    """Write the parts of the state named in `parts` under staging/<part>, and describe
    them in `manifest`."""
    mirror = staging / "blobs"
    mirror.mkdir(parents=True, exist_ok=True)
    if "blobs" in parts and isinstance(storage.blobs, LocalBlobStore):
        _mirror_blobs(storage.blobs, mirror, set(storage.blobs.digests()))
    db_folder = staging / "db"
    shutil.rmtree(db_folder, ignore_errors=True)
    with database_snapshot(storage.db, db_folder) as (session, _, schema):
        manifest.database_schema = schema
        manifest.counts = _counts(session)
        searchable = searchable_chunk_ids(session)
        used = referenced_blobs(session)
    if "db" in parts:
        _copy_secrets(storage.secrets_dir, db_folder / "secrets")
        manifest.files.update(_hashes(staging, db_folder))
    else:
        shutil.rmtree(db_folder)
    if "index" in parts:
        index_folder = staging / "index"
        shutil.rmtree(index_folder, ignore_errors=True)
        index_folder.mkdir(parents=True)
        saved = _save_vectors(storage.vectors, searchable, index_folder / "chunks")
        manifest.vectors = len(saved)
        manifest.vectors_missing = len(searchable - saved)
        if storage.pictures is not None:
            pictures = _save_vectors(storage.pictures, searchable, index_folder / "pictures")
            manifest.picture_vectors = len(pictures)
            manifest.picture_dimension = storage.pictures.dimension
        manifest.files.update(_hashes(staging, index_folder))
    if "blobs" in parts:
        manifest.blobs_missing = sorted(_mirror_blobs(storage.blobs, mirror, used))
        for stale in set(_mirrored(mirror)) - used:
            _mirror_path(mirror, stale).unlink()
        manifest.blobs = sorted(used - set(manifest.blobs_missing))
        manifest.blob_bytes = sum(_mirror_path(mirror, d).stat().st_size for d in manifest.blobs)
    else:
        shutil.rmtree(mirror, ignore_errors=True)


def _counts(session: Session) -> Counts:
    completed = CollectionFile.status == FileStatus.COMPLETED
    return Counts(
        collections=session.scalar(select(func.count()).select_from(Collection)) or 0,
        files=session.scalar(select(func.count()).select_from(StoredFile)) or 0,
        completed_files=session.scalar(select(func.count()).where(completed)) or 0,
        chunks=len(all_chunk_ids(session)),
        searchable_chunks=len(searchable_chunk_ids(session)),
    )


def _copy_secrets(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in SECRET_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)


def _hashes(staging: Path, folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(staging)): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _save_vectors(index: VectorIndex, keep: set[int], stem: Path) -> set[int]:
    """The index's vectors of the chunks in `keep`, as raw little-endian arrays: ids
    (int64) in `<stem>.ids`, vectors (float32, one row each) in `<stem>.f32`."""
    saved: set[int] = set()
    with stem.with_suffix(".ids").open("wb") as ids, stem.with_suffix(".f32").open("wb") as rows:
        for point_id, vector in index.iter_vectors():
            if point_id in keep:
                ids.write(np.asarray([point_id], dtype="<i8").tobytes())
                rows.write(np.asarray(vector, dtype="<f4").tobytes())
                saved.add(point_id)
    return saved


def load_vectors(stem: Path, dimension: int) -> tuple[np.ndarray, FloatArray]:
    ids = np.fromfile(stem.with_suffix(".ids"), dtype="<i8")
    vectors = np.fromfile(stem.with_suffix(".f32"), dtype="<f4")
    if vectors.size != ids.size * dimension:
        raise ValueError(f"{stem.name}: {ids.size} ids but {vectors.size} numbers")
    return ids, vectors.reshape(ids.size, dimension)


def restore_vectors(db: Database, index: VectorIndex, stem: Path, dimension: int) -> int:
    """Replace everything in `index` with the saved vectors, their payloads read from the
    (restored) database."""
    _clear(index)
    if not stem.with_suffix(".ids").exists():
        return 0
    ids, vectors = load_vectors(stem, dimension)
    row_of = {int(point_id): row for row, point_id in enumerate(ids)}
    restored = 0
    for start in range(0, len(ids), BATCH):
        batch = [int(i) for i in ids[start : start + BATCH]]
        with db.session() as session:
            rows = chunks_to_embed(session, batch)
        points = chunk_points(rows, [vectors[row_of[chunk.id]] for chunk, *_ in rows])
        index.upsert(points)
        restored += len(points)
    return restored


def _clear(index: VectorIndex) -> None:
    while batch := list(_take(index.iter_ids(), 4096)):
        index.delete(batch)


def _take(items: Iterator[int], count: int) -> Iterable[int]:
    for _, item in zip(range(count), items, strict=False):
        yield item


def restore_blobs(store: BlobStore, mirror: Path, digests: Iterable[str]) -> int:
    """Store every saved blob the store lacks (each already checked against its name);
    the count stored."""
    stored = 0
    for digest in digests:
        if store.exists(digest):
            continue
        source = _mirror_path(mirror, digest)
        if isinstance(store, LocalBlobStore):  # checked against its name already
            store.adopt(source, digest)
        elif store.put_file(source) != digest:
            raise ValueError(f"blob {digest} does not hold the bytes its name says")
        stored += 1
    return stored


def _mirror_path(mirror: Path, digest: str) -> Path:
    return mirror / digest[:2] / digest


def _mirrored(mirror: Path) -> Iterator[str]:
    if mirror.is_dir():
        for path in mirror.glob("*/*"):
            yield path.name


def mirrored_blobs(mirror: Path) -> list[str]:
    return sorted(_mirrored(mirror))


def blob_file(mirror: Path, digest: str) -> Path:
    return _mirror_path(mirror, digest)


def _mirror_blobs(store: BlobStore, mirror: Path, digests: Iterable[str]) -> set[str]:
    """Put each blob in the mirror folder unless it is there (blobs never change): a hard
    link to a local store's file, else a download. The digests the store lacks."""
    missing: set[str] = set()
    for digest in digests:
        target = _mirror_path(mirror, digest)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if isinstance(store, LocalBlobStore):
                try:
                    os.link(store.local_path(digest), target)
                    continue
                except OSError:
                    pass  # another file system: copy
            partial = target.with_name(f".{digest}.partial")
            with store.open(digest) as source, partial.open("wb") as copy:
                shutil.copyfileobj(source, copy, READ_BLOCK)
            partial.replace(target)
        except KeyError:
            missing.add(digest)
    return missing
