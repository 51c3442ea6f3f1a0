from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, select

from mmstack.api.deps import PrincipalDep, StackDep, authorize
from mmstack.api.schemas import MAX_ROW_ID, JobOut, ListOut
from mmstack.auth.principal import Principal
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import NotFoundError
from mmstack.store.models import Collection, CollectionFile, Job, JobStatus
from mmstack.store.ownership import owns_collection

router = APIRouter(
    prefix="/api/jobs",
    tags=["jobs"],
    dependencies=[Depends(authorize(EndpointGroup.JOBS, Permission.OPERATE))],
)


@router.get("")
def list_jobs(
    stack: StackDep,
    principal: PrincipalDep,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ListOut[JobOut]:
    """Recent background jobs, newest first."""
    stmt = _team_jobs(principal).order_by(Job.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Job.status == status)
    with stack.db.session() as session:
        return ListOut(data=[JobOut.of(job) for job in session.scalars(stmt)])


@router.get("/{job_id}")
def get_job(job_id: int, stack: StackDep, principal: PrincipalDep) -> JobOut:
    if not 0 < job_id <= MAX_ROW_ID:  # no such job, nor a number the database can compare
        raise NotFoundError(f"job {job_id} not found", param="job_id")
    with stack.db.session() as session:
        job = session.scalar(_team_jobs(principal).where(Job.id == job_id))
        if job is None:
            raise NotFoundError(f"job {job_id} not found", param="job_id")
        return JobOut.of(job)


def _team_jobs(principal: Principal) -> Select[Job]:
    """The jobs of the files in the caller's team's collections."""
    return (
        select(Job)
        .join(CollectionFile, CollectionFile.id == Job.collection_file_id)
        .join(Collection, Collection.id == CollectionFile.collection_id)
        .where(owns_collection(principal.owner))
    )
