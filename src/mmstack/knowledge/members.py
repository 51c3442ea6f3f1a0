"""The files of a collection: attaching existing files, and the text a file was indexed
from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mmstack.knowledge.intake import Intake
from mmstack.store.collections import chunk_spans
from mmstack.store.files import find_file
from mmstack.store.models import CollectionFile, FileStatus
from mmstack.store.ownership import Owner

Attributes = dict[str, str | float | bool]


@dataclass(frozen=True, slots=True)
class FileToAttach:
    file_id: str
    attributes: Attributes | None = None


def attach_files(
    session: Session,
    intake: Intake,
    collection_id: str,
    files: Sequence[FileToAttach],
    *,
    owner: Owner | None,
) -> list[CollectionFile]:
    """Attach every file inside the caller's transaction; an unknown id fails them all."""
    stored = {f.file_id: find_file(session, f.file_id, owner=owner) for f in files}
    return [
        intake.attach_in(session, collection_id, stored[f.file_id], attributes=f.attributes)[0]
        for f in files
    ]


def indexed_text(session: Session, member: CollectionFile) -> str:
    """The text the file was indexed from, rebuilt from its chunks (which overlap); empty
    until its ingestion completes."""
    if member.status != FileStatus.COMPLETED:
        return ""
    chunks = chunk_spans(session, member.id)
    parts: list[str] = []
    covered = 0
    for text, start, end in chunks:
        if end <= covered:
            continue
        if start >= covered:
            parts.append(("\n\n" if parts else "") + text)
        else:
            parts.append(text[covered - start :])
        covered = end
    return "".join(parts)
