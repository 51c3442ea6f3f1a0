"""`/healthz`: the process serves. `/readyz`: what it needs answers: the database, the
vector index, the blob store and, when configured, the rate limits' Redis (any of them down:
503); the language-model backends are reported too, but one down leaves the server ready
(`degraded`): search, files and the other models still work."""

from __future__ import annotations

from collections.abc import Callable

import anyio
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
async def readyz(stack: StackDep) -> JSONResponse:
    """Readiness: each dependency checked, with why one is not ready."""
    needed: dict[str, Callable[[], object]] = {
        "database": stack.db.ping,
        "vector_index": stack.vectors.stats,
        "blob_store": stack.blobs.check,
    }
    if stack.settings.quotas.redis_url:
        needed["redis"] = stack.auth.quotas.check
    checks = {
        name: await anyio.to_thread.run_sync(_outcome, probe) for name, probe in needed.items()
    }
    models = await stack.llm.readiness()
    ready = all(state == "ok" for state in checks.values())
    status = (
        "unavailable"
        if not ready
        else "ok"
        if all(m == "ok" for m in models.values())
        else "degraded"
    )
    return JSONResponse({"status": status, "checks": checks, "llm": models}, 200 if ready else 503)


def _outcome(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # any failure means not ready; the body says which
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"
