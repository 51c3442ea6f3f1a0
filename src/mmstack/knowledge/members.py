"""The files of a collection: attaching existing files, paging through them, and the text
a file was indexed from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from mmstack.knowledge.counts import FileState, state_condition
from mmstack.knowledge.intake import Intake
from mmstack.knowledge.lookup import find_file
from mmstack.store.models import Chunk, CollectionFile, FileStatus
from mmstack.store.ownership import Owner
from mmstack.store.pagination import Page, PageRequest, paginate, unknown_cursor

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


def member_page(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    page: PageRequest,
    state: FileState | None,
) -> Page[CollectionFile]:
    """A page of the collection files matching `where`; cursors are file ids."""

    def cursor(name: str, file_id: str | None) -> tuple[int, int] | None:
        if file_id is None:
            return None
        found = session.execute(
            select(CollectionFile.created_at, CollectionFile.id).where(
                *where, CollectionFile.file_id == file_id
            )
        ).first()
        if found is None:
            raise unknown_cursor(name, file_id)
        return found[0], found[1]

    stmt = select(CollectionFile).where(*where)
    if state is not None:
        stmt = stmt.where(state_condition(state))
    return paginate(
        session,
        stmt,
        (CollectionFile.created_at, CollectionFile.id),
        page,
        after_key=cursor("after", page.after),
        before_key=cursor("before", page.before),
    )


def indexed_text(session: Session, member: CollectionFile) -> str:
    """The text the file was indexed from, rebuilt from its chunks (which overlap); empty
    until its ingestion completes."""
    if member.status != FileStatus.COMPLETED:
        return ""
    chunks = session.execute(
        select(Chunk.text, Chunk.char_start, Chunk.char_end)
        .where(Chunk.collection_file_id == member.id)
        .order_by(Chunk.seq)
    ).all()
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
