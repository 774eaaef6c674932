"""Operational probes for load balancers and orchestrators; no authentication."""

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from todo_api.core.deps import RuntimeDep
from todo_api.core.errors import ServiceUnavailable, problem_responses

router = APIRouter(tags=["operations"])
READY_TIMEOUT_SECONDS = 2.0
_PROBE = text("SELECT 1")


class Health(BaseModel):
    status: str


@router.get("/health")
async def health() -> Health:
    """200 while the process is alive."""
    return Health(status="ok")


@router.get("/ready", responses=problem_responses(503))
async def ready(app: RuntimeDep) -> Health:
    """200 when the database answers a query, else 503 (also while shutting down)."""
    if app.lifecycle.draining:
        raise ServiceUnavailable("Shutting down")
    try:
        async with (
            asyncio.timeout(READY_TIMEOUT_SECONDS),
            app.pool.connection(queued=False) as db,
        ):
            await db.execute(_PROBE, {})
    except Exception as error:
        raise ServiceUnavailable("The database is not answering") from error
    return Health(status="ready")
