from __future__ import annotations

from typing import Literal

from mmstack.api.schemas import Identified
from mmstack.store.models import StoredFile


class FileObjectOut(Identified):
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None

    @classmethod
    def of(cls, stored: StoredFile) -> FileObjectOut:
        return cls(
            id=stored.id,
            bytes=stored.size_bytes,
            created_at=stored.created_at,
            filename=stored.filename,
            purpose=stored.purpose,
        )
