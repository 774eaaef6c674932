"""The stack: what FastAPI and the API's data path cost with none of the API's features.

The benchmark's endpoints on the API's own stack and code paths: FastAPI routes documented
with response models, the API's connection pool and its Autocommit and transaction
connections, the API's service functions (the same statements, the JSON built by the
database), list query parsing and schemas, the token checked by the API's own verifier (and
its cache), and the API's garbage-collector settings while it serves. Left out is everything
the API adds around that work: rate limiting, the access log, middleware (request ids,
hygiene headers, CORS), body limits, ETags and problem+json errors. The connections come
through the API's own `DatabasePool`, so its first-come-first-served queue for them
(`ConnectionSlots`) is part of the stack. Where the API sits between this and the floor says
what its features cost and what the stack costs.

Run by the harness (`./dev bench --stack`) as `python -m bench.stack --port P --workers N`,
configured like the API: DATABASE_URL, BETTER_AUTH_SECRET, DATABASE_POOL_* variables.
"""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response

from todo_api.core.auth import InvalidToken, TokenVerifier
from todo_api.core.clock import SYSTEM_CLOCK
from todo_api.core.config import get_settings
from todo_api.core.connections import Database, DatabasePool
from todo_api.core.db import create_engine
from todo_api.core.heap import server_heap
from todo_api.core.http import JSONText
from todo_api.tasks import service
from todo_api.tasks.routes import ListQuery
from todo_api.tasks.schemas import TaskCreate, TaskRead


async def database(request: Request) -> Database:
    pool: DatabasePool = request.app.state.databases
    return pool.autocommit


async def transaction(request: Request) -> AsyncIterator[Database]:
    pool: DatabasePool = request.app.state.databases
    async with pool.transaction() as db:
        yield db


async def user_id(request: Request, authorization: Annotated[str, Header()] = "") -> str:
    verifier: TokenVerifier = request.app.state.verifier
    try:
        principal = await verifier.verify(authorization.removeprefix("Bearer "))
    except InvalidToken:
        raise HTTPException(401) from None
    return principal.user_id


Db = Annotated[Database, Depends(database)]
# Function scope, as in the API: the transaction commits before the response is sent.
Tx = Annotated[Database, Depends(transaction, scope="function")]
User = Annotated[str, Depends(user_id)]
router = APIRouter()


@router.get("/health")
@router.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/api/tasks",
    response_model=None,
    response_class=JSONText,
    responses={200: {"model": list[TaskRead]}},
)
async def list_tasks(
    request: Request, response: Response, user: User, query: ListQuery, db: Db
) -> str:
    cursor_key: bytes = request.app.state.cursor_key
    page = await service.list_tasks(
        db, owner=user, query=query, cursor_key=cursor_key, now=SYSTEM_CLOCK.now()
    )
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return page.json


@router.post(
    "/api/tasks",
    status_code=201,
    response_model=None,
    response_class=JSONText,
    responses={201: {"model": TaskRead}},
)
async def create_task(data: TaskCreate, user: User, db: Tx) -> str:
    created = await service.create_task(db, owner=user, data=data, now=SYSTEM_CLOCK.now())
    return created.task.json


@router.get(
    "/api/tasks/{task_id}",
    response_model=None,
    response_class=JSONText,
    responses={200: {"model": TaskRead}},
)
async def get_task(task_id: int, user: User, db: Db) -> str:
    return (await service.get_task(db, owner=user, task_id=task_id)).json


@router.patch(
    "/api/tasks/{task_id}/complete",
    response_model=None,
    response_class=JSONText,
    responses={200: {"model": TaskRead}},
)
async def complete_task(task_id: int, user: User, db: Db) -> str:
    task = await service.set_completed(
        db, owner=user, task_id=task_id, completed=None, now=SYSTEM_CLOCK.now()
    )
    return task.json


def create_app() -> FastAPI:
    settings = get_settings()
    databases = DatabasePool(settings, create_engine(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await databases.open()
        with server_heap():
            yield
        await databases.close()

    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False}, lifespan=lifespan)
    app.state.databases = databases
    app.state.verifier = TokenVerifier(settings, httpx.AsyncClient())
    app.state.cursor_key = settings.cursor_key
    app.include_router(router)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # The same server settings as `todo-api serve`, so the difference is the application.
    uvicorn.run(
        "bench.stack:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        server_header=False,
        proxy_headers=True,
        access_log=False,
    )


if __name__ == "__main__":
    main()
