from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mmstack import __version__
from mmstack.api.deps import StackDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
def readyz(stack: StackDep) -> JSONResponse:
    """Readiness: the database and the vector index answer."""
    checks: dict[str, str] = {}
    try:
        stack.db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        stack.vectors.stats()
        checks["vector_index"] = "ok"
    except Exception as exc:
        checks["vector_index"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )
