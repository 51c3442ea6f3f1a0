"""A backup's manifest: what it holds (the database, the vector index, the blobs), from which
version of mmstack and schema, with a sha256 for every file, and the counts a restore is
checked against."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from mmstack.ops.backup.restic import BackupError

FORMAT: Final = "mmstack-backup"
FORMAT_VERSION: Final = 1
PARTS: Final = ("db", "index", "blobs")
MANIFEST_FILE: Final = "manifest.json"


def new_backup_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass(slots=True)
class Counts:
    collections: int = 0
    files: int = 0
    completed_files: int = 0
    chunks: int = 0
    searchable_chunks: int = 0


@dataclass(slots=True)
class Manifest:
    id: str
    created_at: float
    mmstack_version: str
    schema_revision: str | None
    database: str  # sqlite or postgresql
    database_schema: str | None  # PostgreSQL: the schema dumped (objects are named in it)
    embedding_model: str
    dimension: int
    parts: list[str]
    counts: Counts = field(default_factory=Counts)
    # Relative path inside its part ("db/mmstack.sqlite3") -> sha256, for db and index.
    files: dict[str, str] = field(default_factory=dict)
    vectors: int = 0  # chunk vectors saved
    vectors_missing: int = (
        0  # searchable chunks whose vector was not in the index (re-embedded on restore)
    )
    picture_vectors: int = 0
    picture_dimension: int = 0
    blobs: list[str] = field(default_factory=list)  # sha256 of every blob the database uses
    blobs_missing: list[str] = field(default_factory=list)  # used, but not in the blob store
    blob_bytes: int = 0
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Manifest:
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not an mmstack backup manifest")
            if int(data.get("format_version", 0)) > FORMAT_VERSION:
                raise BackupError(
                    f"backup {data.get('id')} was written in backup format "
                    f"{data['format_version']}, newer than this mmstack reads "
                    f"({FORMAT_VERSION}): upgrade mmstack to restore it"
                )
            data["counts"] = Counts(**data.get("counts", {}))
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise BackupError(f"{source}: unreadable backup manifest ({exc})") from None

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MANIFEST_FILE
        path.write_text(self.to_json())
        return path
