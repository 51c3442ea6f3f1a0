"""Finding what an owner may see: a collection by id or name, a file, a file's membership
in a collection; and the team new data of an owner goes to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mmstack.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from mmstack.knowledge.labels import check_label
from mmstack.store.models import DEFAULT_TEAM_ID, Collection, CollectionFile, StoredFile
from mmstack.store.ownership import Owner, owns_collection, owns_file


def find_collection(
    session: Session, id_or_name: str, *, owner: Owner | None, param: str = "collection"
) -> Collection:
    """A collection `owner` may see, by id or by name, or NotFoundError."""
    visible = owns_collection(owner)
    collection = session.scalar(select(Collection).where(Collection.id == id_or_name, visible))
    if collection is None:
        named = session.scalars(
            select(Collection).where(Collection.name == id_or_name, visible).limit(2)
        ).all()
        if len(named) > 1:  # the same name in two teams, asked without a team
            raise InvalidRequestError(
                f"several teams have a collection named '{id_or_name}'; use its id", param=param
            )
        collection = named[0] if named else None
    if collection is None:
        raise NotFoundError(f"collection '{id_or_name}' not found", param=param)
    return collection


def find_member(session: Session, collection_id: str, file_id: str) -> CollectionFile:
    """A file's membership in a collection, or NotFoundError."""
    member = session.scalar(
        select(CollectionFile).where(
            CollectionFile.collection_id == collection_id, CollectionFile.file_id == file_id
        )
    )
    if member is None:
        raise NotFoundError(
            f"file '{file_id}' not found in collection '{collection_id}'", param="file_id"
        )
    return member


def find_file(session: Session, file_id: str, *, owner: Owner | None) -> StoredFile:
    """A file `owner` may see, or NotFoundError."""
    stored = session.scalar(select(StoredFile).where(StoredFile.id == file_id, owns_file(owner)))
    if stored is None:
        raise NotFoundError(f"file '{file_id}' not found", param="file_id")
    return stored


def team_of(owner: Owner | None) -> str:
    """The team new data of `owner` goes to; a key limited to some collections makes none."""
    if owner is None:
        return DEFAULT_TEAM_ID
    if owner.collection_ids is not None:
        raise PermissionDeniedError(
            "this API key is limited to some collections and cannot make new ones"
        )
    return owner.team_id


def check_name(session: Session, name: str, *, team_id: str, current_id: str | None = None) -> str:
    """`name` stripped, if it can name a collection of the team (1 to 256 characters,
    unused)."""
    name = check_label(name, what="collection name", param="name", max_length=256)
    holder = session.scalar(
        select(Collection.id).where(Collection.name == name, Collection.team_id == team_id)
    )
    if holder is not None and holder != current_id:
        raise name_taken(name)
    return name


def name_taken(name: str) -> ConflictError:
    return ConflictError(f"a collection named '{name}' already exists", param="name")
