"""The collection archive's format (version 1): one tar file, gzip-compressed or not.

Members, in this order:
- `manifest.json`: the format and its version, the mmstack version and database schema
  revision that wrote it, the embedding model and dimension of the vectors, counts, and the
  sha256 and size of every other member;
- `collection.json`: the collection's name, description and metadata;
- `files.jsonl`: one line per file in the collection: the stored file, its place in the
  collection (status, error, tags, attributes...) and its derived images (`file_assets`);
- `chunks.jsonl`: one line per chunk of the completed files, every column but the row ids
  of this installation, each with its id there (which `vector_ids.npy` names);
- `vector_ids.npy` (int64) and `vectors.npy` (float32, one row per id): the chunks' vectors;
- `blobs/<sha256>`: the files' bytes and the images derived from them.

Reading stages every member in a local directory while hashing it, and refuses the archive
(naming the member) before anything is written to the installation when one does not match
the manifest, is missing, or is not listed in it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, Final, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from mmstack.errors import InvalidRequestError
from mmstack.store.blobs import READ_BLOCK, SHA256_PATTERN
from mmstack.store.models import FileStatus

FORMAT: Final = "mmstack-collection"
FORMAT_VERSION: Final = 1

MANIFEST: Final = "manifest.json"
COLLECTION: Final = "collection.json"
FILES: Final = "files.jsonl"
CHUNKS: Final = "chunks.jsonl"
VECTOR_IDS: Final = "vector_ids.npy"
VECTORS: Final = "vectors.npy"
BLOBS: Final = "blobs/"
MAX_MANIFEST_BYTES = 256 * 1024 * 1024

Record = TypeVar("Record", bound=BaseModel)
IdArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """What an export wrote or an import made."""

    collection_id: str
    name: str
    files: int
    chunks: int
    vectors: int
    blobs: int
    requeued: int = 0  # an import's queued files, given an ingestion job here
    renamed_files: int = 0  # an import's files given new ids (theirs were taken here)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ArchiveError(InvalidRequestError):
    """An archive that cannot be read into this installation; nothing was written."""

    code = "invalid_archive"


class CollectionRecord(BaseModel):
    name: str
    description: str | None = None
    metadata: dict[str, Any] = {}


class AssetRecord(BaseModel):
    key: str
    media_type: str


class FileRecord(BaseModel):
    """A stored file and its place in the collection."""

    id: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    purpose: str
    created_at: int
    media_info: dict[str, Any] | None = None
    thumbnail: str | None = None
    perceptual_hash: str | None = None
    assets: list[AssetRecord] = []
    # The membership: `member_sha256` is set for a file uploaded straight into the
    # collection (the bytes are unique there), None for one attached by id.
    member_sha256: str | None = None
    status: str
    last_error: str | None = None
    error_code: str | None = None
    progress: float = 0.0
    chunk_count: int = 0
    tags: list[str] = []
    attributes: dict[str, Any] = {}
    added_at: int
    updated_at: int


class ChunkRecord(BaseModel):
    """A chunk row; `id` is its id where it was exported (the key of its vector)."""

    id: int
    file_id: str
    seq: int
    text: str
    token_count: int
    page_start: int | None = None
    page_end: int | None = None
    heading_path: list[str] = []
    char_start: int
    char_end: int
    source: str = "text"
    region: list[int] | None = None
    time_start: float | None = None
    time_end: float | None = None
    thumbnail: str | None = None
    timeline: list[list[float]] | None = None


class EmbeddingInfo(BaseModel):
    model: str
    dimension: int


class MemberDigest(BaseModel):
    sha256: str
    size: int


class Manifest(BaseModel):
    format: str
    format_version: int
    mmstack_version: str
    schema_revision: str | None
    exported_at: int
    embedding: EmbeddingInfo
    counts: dict[str, int]
    members: dict[str, MemberDigest]


def compressed(path: Path) -> bool:
    """Whether an archive at `path` is written gzip-compressed, from its name."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return True
    if name.endswith(".tar"):
        return False
    raise InvalidRequestError(
        f"archive name {path.name!r} must end in .tar, .tar.gz or .tgz", param="out"
    )


def open_for_writing(path: Path, *, compress: bool) -> tarfile.TarFile:
    if compress:
        return tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT)
    return tarfile.open(path, "w", format=tarfile.PAX_FORMAT)


def add_member(archive: tarfile.TarFile, name: str, source: IO[bytes], size: int) -> None:
    """Append a regular file member, streamed from `source`."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o644
    archive.addfile(info, source)


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    add_member(archive, name, io.BytesIO(data), len(data))


def read_archive(path: Path, staging: Path, *, model: str, dimension: int) -> tuple[Manifest, Path]:
    """Stage the archive's members under `staging` and return its manifest and the staged
    directory, once every member matches the manifest. An archive of another format
    version, embedding model or dimension is refused before its members are read."""
    if not path.is_file():
        raise ArchiveError(f"archive {path} not found", param="archive")
    try:
        with tarfile.open(path, "r|*") as archive:
            return _read(archive, staging, model=model, dimension=dimension)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{path} is not a readable collection archive ({exc})") from exc


def _read(
    archive: tarfile.TarFile, staging: Path, *, model: str, dimension: int
) -> tuple[Manifest, Path]:
    first = archive.next()
    if first is None or first.name != MANIFEST or not first.isreg():
        raise ArchiveError(f"not a collection archive: its first member is not {MANIFEST}")
    if first.size > MAX_MANIFEST_BYTES:
        raise ArchiveError(f"{MANIFEST} is too large ({first.size} bytes)")
    manifest = _manifest(_read_member(archive, first))
    _check_compatible(manifest, model=model, dimension=dimension)
    (staging / BLOBS).mkdir(parents=True)
    seen: set[str] = set()
    while (member := archive.next()) is not None:  # iterating would yield the manifest again
        expected = manifest.members.get(member.name)
        if expected is None or not member.isreg() or not _safe_name(member.name):
            raise ArchiveError(f"archive member {member.name!r} is not listed in {MANIFEST}")
        if member.name in seen:
            raise ArchiveError(f"archive member {member.name!r} appears twice")
        seen.add(member.name)
        if member.size != expected.size:
            raise ArchiveError(
                f"archive member {member.name!r} is corrupt: {member.size} bytes, "
                f"the manifest says {expected.size}"
            )
        if _stage(archive, member, staging / member.name) != expected.sha256:
            raise ArchiveError(
                f"archive member {member.name!r} is corrupt: its sha256 does not match the manifest"
            )
    if missing := sorted(set(manifest.members) - seen):
        raise ArchiveError(f"archive member {missing[0]!r} is missing ({len(missing)} in all)")
    return manifest, staging


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    source = archive.extractfile(member)
    assert source is not None  # a regular file
    return source.read()


def _manifest(data: bytes) -> Manifest:
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise ArchiveError(f"not a collection archive: {MANIFEST} is invalid ({exc})") from exc
    if manifest.format != FORMAT:
        raise ArchiveError(f"not a collection archive: its format is {manifest.format!r}")
    return manifest


def _check_compatible(manifest: Manifest, *, model: str, dimension: int) -> None:
    if manifest.format_version > FORMAT_VERSION:
        raise ArchiveError(
            f"the archive is in format version {manifest.format_version}, written by mmstack "
            f"{manifest.mmstack_version}; this mmstack reads version {FORMAT_VERSION} and "
            "older: upgrade it first"
        )
    made_by = manifest.embedding
    if (made_by.model, made_by.dimension) != (model, dimension):
        raise ArchiveError(
            f"the archive's vectors were made by {made_by.model} ({made_by.dimension} "
            f"dimensions) and this installation embeds with {model} ({dimension} "
            "dimensions): vectors of another model cannot be searched here"
        )


def _safe_name(name: str) -> bool:
    if name.startswith(BLOBS):
        return SHA256_PATTERN.match(name.removeprefix(BLOBS)) is not None
    return name in (COLLECTION, FILES, CHUNKS, VECTOR_IDS, VECTORS)


def _stage(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Copy the member to `target`; returns the sha256 of what was copied."""
    digest = hashlib.sha256()
    source = archive.extractfile(member)
    assert source is not None
    with target.open("wb") as sink:
        while block := source.read(READ_BLOCK):
            digest.update(block)
            sink.write(block)
    return digest.hexdigest()


def records(path: Path, model: type[Record]) -> Iterator[Record]:
    """The JSON lines of a staged member, each validated as `model`."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            try:
                yield model.model_validate_json(line)
            except ValidationError as exc:
                raise ArchiveError(f"{path.name} line {number} is invalid: {exc}") from exc


def check_chunks(staged: Path, files: list[FileRecord]) -> IdArray:
    """The archive's chunk ids, once every chunk is known to belong to a completed file
    of the archive, each file's chunks together, and no id twice."""
    completed = {r.id for r in files if r.status == FileStatus.COMPLETED}
    if len({r.id for r in files}) < len(files):
        raise ArchiveError(f"{FILES} lists a file twice")
    done: set[str] = set()
    ids: list[int] = []
    for file_id, group in groupby(records(staged / CHUNKS, ChunkRecord), attrgetter("file_id")):
        if file_id not in completed or file_id in done:
            raise ArchiveError(
                f"{CHUNKS} has chunks of {file_id}, not a completed file or out of order"
            )
        done.add(file_id)
        ids.extend(c.id for c in group)
    found = np.array(ids, dtype=np.int64)
    if len(np.unique(found)) < len(found):
        raise ArchiveError(f"{CHUNKS} lists a chunk twice")
    return found


def check_vectors(staged: Path, chunk_ids: IdArray, dimension: int) -> None:
    """One vector of this installation's dimension for every chunk of the archive."""
    try:
        ids = np.load(staged / VECTOR_IDS)
        matrix = np.load(staged / VECTORS, mmap_mode="r")
    except ValueError as exc:
        raise ArchiveError(f"the archive's vectors cannot be read ({exc})") from exc
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or matrix.dtype != np.float32:
        raise ArchiveError(f"{VECTOR_IDS} or {VECTORS} holds the wrong kind of array")
    if matrix.shape != (len(ids), dimension):
        raise ArchiveError(f"{VECTORS} is {matrix.shape}, not one row of {dimension} per chunk")
    if not np.array_equal(np.sort(ids), np.sort(chunk_ids)):
        raise ArchiveError(f"{VECTOR_IDS} does not name exactly the archive's chunks")
