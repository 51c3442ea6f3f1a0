from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mmstack.api.deps import JobsDep, PrincipalDep, authorize
from mmstack.api.schemas import JobOut, ListOut
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.store.models import JobStatus

router = APIRouter(
    prefix="/api/jobs",
    tags=["jobs"],
    dependencies=[Depends(authorize(EndpointGroup.JOBS, Permission.OPERATE))],
)


@router.get("")
def list_jobs(
    jobs: JobsDep,
    principal: PrincipalDep,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ListOut[JobOut]:
    """Recent background jobs, newest first."""
    found = jobs.recent(principal.owner, status=status, limit=limit)
    return ListOut(data=[JobOut.of(job) for job in found])


@router.get("/{job_id}")
def get_job(job_id: int, jobs: JobsDep, principal: PrincipalDep) -> JobOut:
    return JobOut.of(jobs.get(principal.owner, job_id))
