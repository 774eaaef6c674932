"""Wiring only: settings, engine, middleware, error handlers, routers."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from todo_api import __version__
from todo_api.core.auth import TokenVerifier
from todo_api.core.clock import SYSTEM_CLOCK, Clock
from todo_api.core.config import Settings, get_settings
from todo_api.core.connections import DatabasePool
from todo_api.core.db import create_engine
from todo_api.core.deps import require_path_user
from todo_api.core.errors import install_error_handlers, problem_responses
from todo_api.core.heap import server_heap
from todo_api.core.http import GuardMiddleware
from todo_api.core.lifecycle import Lifecycle
from todo_api.core.logging import configure_logging
from todo_api.core.openapi import install_openapi
from todo_api.core.ratelimit import RateLimiter
from todo_api.core.state import Runtime
from todo_api.idempotency.service import prune_forever
from todo_api.reminders.routes import router as reminders_router
from todo_api.system.routes import router as system_router
from todo_api.tasks.routes import router as tasks_router
from todo_api.users.routes import router as users_router

DESCRIPTION = """
The backend of a Todo app whose users sign in with Better Auth. Send the Better Auth JWT as
`Authorization: Bearer <token>`; every task you see, change or count is your own.
Errors are `application/problem+json` (RFC 9457). Every `/api/...` route is also served,
identically, under `/api/v1/...`.
"""


def create_app(settings: Settings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    http_client = httpx.AsyncClient()
    runtime = Runtime(
        settings=settings,
        clock=clock,
        pool=DatabasePool(settings, create_engine(settings)),
        verifier=TokenVerifier(settings, http_client),
        rate_limiter=RateLimiter(settings, clock=clock) if settings.rate_limit_enabled else None,
        lifecycle=Lifecycle(),
        http_client=http_client,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        restore_sigterm = runtime.lifecycle.drain_on_sigterm(settings.shutdown_drain_seconds)
        await runtime.pool.open()
        pruning = asyncio.create_task(
            prune_forever(runtime.pool, clock, every=settings.idempotency_prune_seconds)
        )
        with server_heap():
            yield
        pruning.cancel()
        restore_sigterm()
        if runtime.rate_limiter is not None:
            await runtime.rate_limiter.aclose()
        await http_client.aclose()
        await runtime.pool.close()

    docs = settings.docs_enabled
    app = FastAPI(
        # Operation ids are the route names, so OpenAPI links can name them.
        generate_unique_id_function=lambda route: route.name,
        # FastAPI's native OpenTelemetry looks up the global providers (and the environment)
        # on every request, 2% of the CPU in the benchmark; no provider is ever set up here.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="todo-api",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.runtime = runtime  # read back, typed, through `core.deps.runtime_of`

    app.add_middleware(GuardMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o for o in settings.cors_origins if "*" not in o or o == "*"],
        # `https://*.example.com` style entries: `*` stands for one DNS label, no more.
        allow_origin_regex="|".join(
            re.escape(o).replace(r"\*", "[a-z0-9-]+")
            for o in settings.cors_origins
            if "*" in o and o != "*"
        )
        or None,
        # Better Auth frontends call with `credentials: "include"`; browsers reject such a
        # response without this. Never with `*`: any site could then act as the user.
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "X-Request-ID",
        ],
        expose_headers=[
            "Link",
            "X-Total-Count",
            "Location",
            "ETag",
            "Retry-After",
            "X-Request-ID",
            "Idempotent-Replayed",
            "RateLimit",
            "RateLimit-Policy",
        ],
        max_age=600,
    )
    install_error_handlers(app)
    # Routes are tried in order, so the busiest come first: the task routes and /me, then the
    # same under the /api/v1 alias (frontends that version their base URL; listed once in the
    # OpenAPI document), then the compatibility paths, which would take `v1` for a user id if
    # they came before the alias.
    for prefix, listed in (("/api", True), ("/api/v1", False)):
        app.include_router(users_router, prefix=prefix, include_in_schema=listed)
        app.include_router(reminders_router, prefix=prefix, include_in_schema=listed)
        app.include_router(
            tasks_router, prefix=f"{prefix}/tasks", tags=["tasks"], include_in_schema=listed
        )
    for prefix, listed in (("/api/v1", False), ("/api", True)):
        app.include_router(
            tasks_router,
            prefix=f"{prefix}/{{user_id}}/tasks",
            tags=["compatibility"],
            include_in_schema=listed,
            dependencies=[Depends(require_path_user)],
            responses=problem_responses(403),
            generate_unique_id_function=lambda route: f"{route.name}_for_user",
        )
    app.include_router(system_router)
    install_openapi(app)
    return app
