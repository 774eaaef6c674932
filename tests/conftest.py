"""Every test runs twice: on a throwaway PostgreSQL database and on a SQLite file.

No mocks: the real app over ASGI, real signed tokens, real rows. PostgreSQL comes from
TEST_DATABASE_URL (default: the local server); a fresh database is created for the run and
dropped after it. Without a reachable PostgreSQL its half is skipped, except under CI=true.
The packages whose conftest asks for it (`database_backends`) run a third time, on the same
PostgreSQL database through a real PgBouncer in transaction mode (tests/pgbouncer.py).
"""

import asyncio
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.pgbouncer import PgBouncerUnavailable, ensure_pgbouncer, start_pgbouncer
from todo_api.app import create_app
from todo_api.core.clock import SYSTEM_CLOCK, Clock
from todo_api.core.config import Settings
from todo_api.core.db import create_engine
from todo_api.migrations import upgrade

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The suite configures the app explicitly; nothing from the developer's shell may leak in.
for _name in list(os.environ):
    if _name.upper() in {f.upper() for f in Settings.model_fields}:
        del os.environ[_name]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def make_token(
    subject: object = "alice",
    /,
    *,
    key: Any = SECRET,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token as a frontend mints it: `sub` plus a 15-minute expiry, unless overridden."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + 900}
    payload.update(claims)
    for name in [name for name, value in payload.items() if value is None]:
        del payload[name]
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def bearer(user_id: str = "alice", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user_id, **claims)}"}


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated to head, dropped at the end."""
    name = f"todo_api_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        message = (
            f"PostgreSQL at {ADMIN_URL} is unreachable ({error}); its half of the suite is skipped"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    upgrade(Settings(_env_file=None, database_url=rendered))
    yield rendered
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "todo.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(Settings(_env_file=None, database_url=url))
    return url


# URLs that reach PostgreSQL through PgBouncer: the app is told so, as a deployment would be.
_THROUGH_PGBOUNCER: set[str] = set()


@pytest.fixture(scope="session")
def pgbouncer_url(postgresql_url: str) -> Iterator[str]:
    """postgresql_url's database through PgBouncer in transaction mode."""
    try:
        bouncer = start_pgbouncer(ensure_pgbouncer(), make_url(ADMIN_URL))
    except PgBouncerUnavailable as error:
        if IN_CI:
            pytest.fail(f"{error}; CI=true needs the PgBouncer runs of the suite")
        pytest.skip(f"{error}; the PgBouncer runs of the suite are skipped")
    url = bouncer.url_for(make_url(postgresql_url)).render_as_string(hide_password=False)
    _THROUGH_PGBOUNCER.add(url)
    yield url
    _THROUGH_PGBOUNCER.discard(url)
    bouncer.stop()


def database_backends(*backends: str) -> Any:
    """The `database_url` fixture, run once per backend: "sqlite", "postgresql", "pgbouncer"."""

    @pytest.fixture(scope="session", params=backends)
    def database_url(request: pytest.FixtureRequest) -> str:
        url: str = request.getfixturevalue(f"{request.param}_url")
        return url

    return database_url


database_url = database_backends("sqlite", "postgresql")


@pytest.fixture
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest) -> None:
    marked = request.node.get_closest_marker("postgres_only")
    if marked and request.getfixturevalue("backend") != "postgresql":
        pytest.skip("needs PostgreSQL")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "better_auth_secret": SECRET}
    if database_url in _THROUGH_PGBOUNCER:
        values["database_pool_mode"] = "transaction"
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def _clean(app: FastAPI) -> None:
    await _delete_rows(app.state.runtime.pool.engine)


async def _delete_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM tasks"))
        # Idempotency keys go with their users (ON DELETE CASCADE).
        await connection.execute(text("DELETE FROM users"))


def wipe(database_url: str) -> None:
    """Remove every row, from a synchronous test (one whose app runs in another event loop)."""

    async def wipe_with_own_engine() -> None:
        engine = create_engine(make_settings(database_url))
        try:
            await _delete_rows(engine)
        finally:
            await engine.dispose()

    asyncio.run(wipe_with_own_engine())


@asynccontextmanager
async def running(
    settings: Settings, *, clean: bool = True, clock: Clock = SYSTEM_CLOCK
) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running on an empty database, emptied again afterwards.

    `clean=False` for a database that cannot be reached; `clock` for tests that set the time.
    """
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        if clean:
            await _clean(application)
        try:
            yield application
        finally:
            if clean:
                await _clean(application)


def client_for(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def client_with(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app configured differently from the default fixture's."""
    settings = make_settings(database_url, **overrides)
    async with running(settings) as application, client_for(application) as http:
        yield http


@asynccontextmanager
async def live_server(application: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn HTTP server on 127.0.0.1, in this event loop."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
def clock() -> Clock:
    """The app's clock: a module that sets the time overrides this with a FixedClock."""
    return SYSTEM_CLOCK


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[FastAPI]:
    async with running(settings, clock=clock) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
def alice() -> dict[str, str]:
    return bearer("alice")


@pytest.fixture
def bob() -> dict[str, str]:
    return bearer("bob")


class Rows:
    """Reads the database directly, to assert on what was stored rather than what was said."""

    def __init__(self, app: FastAPI):
        self._engine = app.state.runtime.pool.engine

    async def __call__(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self._engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

    async def execute(self, sql: str, **params: Any) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(text(sql), params)

    async def task(self, task_id: int) -> dict[str, Any] | None:
        found = await self("SELECT * FROM tasks WHERE id = :id", id=task_id)
        return found[0] if found else None


@pytest.fixture
def rows(app: FastAPI) -> Rows:
    return Rows(app)
