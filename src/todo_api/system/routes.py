"""Operational probes for load balancers and orchestrators; no authentication."""

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from todo_api.core.errors import ServiceUnavailable, problem_responses

router = APIRouter(tags=["operations"])
READY_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: str


@router.get("/health")
async def health() -> Health:
    """200 while the process is alive."""
    return Health(status="ok")


@router.get("/ready", responses=problem_responses(503))
async def ready(request: Request) -> Health:
    """200 when the database answers a query, else 503 (also while shutting down)."""
    if request.app.state.lifecycle.draining:
        raise ServiceUnavailable("Shutting down")
    engine: AsyncEngine = request.app.state.engine
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        raise ServiceUnavailable("The database is not answering") from error
    return Health(status="ready")
