from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from mmstack.api.deps import StackDep
from mmstack.api.schemas import JobOut, ListOut
from mmstack.errors import NotFoundError
from mmstack.store.models import Job, JobStatus

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("")
def list_jobs(
    stack: StackDep,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ListOut[JobOut]:
    """Recent background jobs, newest first."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Job.status == status)
    with stack.db.session() as session:
        return ListOut(data=[JobOut.of(job) for job in session.scalars(stmt)])


@router.get("/{job_id}")
def get_job(job_id: int, stack: StackDep) -> JobOut:
    with stack.db.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found", param="job_id")
        return JobOut.of(job)
