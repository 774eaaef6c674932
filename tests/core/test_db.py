"""Database URLs as people paste them, and what clients see when the database is gone."""

import asyncio
import time

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc, text

from tests.conftest import Rows, bearer, client_for, client_with, make_settings, running
from todo_api.core.db import ConnectionSlots, create_engine, engine_arguments, is_unavailable


def arguments(url: str, **overrides: object) -> tuple[str, dict[str, object]]:
    sa_url, connect_args = engine_arguments(make_settings(url, **overrides))
    return sa_url.render_as_string(hide_password=False), connect_args


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_every_postgres_scheme_uses_asyncpg(scheme: str) -> None:
    url, connect_args = arguments(f"{scheme}://u:p@db.example:5432/app")

    assert url == "postgresql+asyncpg://u:p@db.example:5432/app"
    assert connect_args["timeout"] == 3.0
    assert connect_args["command_timeout"] == 10.0
    assert "ssl" not in connect_args


def test_neon_url_is_translated_for_asyncpg() -> None:
    url, connect_args = arguments(
        "postgresql://u:p@ep-cool-name-123456.us-east-2.aws.neon.tech/neondb"
        "?sslmode=require&channel_binding=require"
    )

    assert url == "postgresql+asyncpg://u:p@ep-cool-name-123456.us-east-2.aws.neon.tech/neondb"
    assert connect_args["ssl"] == "require"
    assert "statement_cache_size" not in connect_args


def test_pooled_neon_endpoint_uses_unnamed_uncached_statements() -> None:
    url, connect_args = arguments(
        "postgresql://u:p@ep-cool-name-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require"
    )

    assert url.endswith("/neondb?prepared_statement_cache_size=0")
    assert connect_args["statement_cache_size"] == 0
    name_func = connect_args["prepared_statement_name_func"]
    assert callable(name_func)
    assert name_func() == ""  # the unnamed statement: nothing outlives the next one


def test_transaction_pool_mode_setting_has_the_same_effect_on_postgresql_only() -> None:
    _url, connect_args = arguments(
        "postgresql://u@pgbouncer:6432/app", database_pool_mode="transaction"
    )
    sqlite = make_settings("sqlite:///./local.db", database_pool_mode="transaction")

    assert connect_args["statement_cache_size"] == 0
    assert not sqlite.transaction_pooled


def test_sqlite_urls_use_aiosqlite() -> None:
    url, _ = arguments("sqlite:///./local.db")

    assert url == "sqlite+aiosqlite:///./local.db"


def test_errors_are_classified_as_unavailable_or_not() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert is_unavailable(refused)
    assert is_unavailable(TimeoutError())
    assert is_unavailable(exc.TimeoutError("pool exhausted"))
    assert is_unavailable(exc.OperationalError("SELECT 1", {}, Exception("gone")))
    assert not is_unavailable(exc.ProgrammingError("SELECT nope", {}, Exception("syntax")))
    assert not is_unavailable(ValueError("bug"))
    # asyncpg's own, from statements run on its connection.
    assert is_unavailable(asyncpg.AdminShutdownError("terminating connection"))
    assert is_unavailable(asyncpg.ConnectionDoesNotExistError("connection was closed"))
    assert is_unavailable(asyncpg.InterfaceError("connection is closed"))
    assert is_unavailable(asyncpg.InterfaceError("pool is closing"))
    assert is_unavailable(asyncpg.InternalClientError("cannot switch to state 12"))
    assert not is_unavailable(asyncpg.InterfaceError("the server expects 2 arguments, 3 passed"))
    assert not is_unavailable(asyncpg.DataError("invalid input for query argument $1"))
    assert not is_unavailable(asyncpg.UndefinedColumnError("column title does not exist"))


@pytest.mark.parametrize("scheme", ["postgresql", "sqlite"])
async def test_unreachable_database_is_503_with_retry_after_quickly(
    scheme: str, free_tcp_port: int, tmp_path: object
) -> None:
    url = (
        f"postgresql://postgres@127.0.0.1:{free_tcp_port}/none"
        if scheme == "postgresql"
        else "sqlite+aiosqlite:////nonexistent-dir/for/sure/todo.db"
    )
    async with running(make_settings(url), clean=False) as app, client_for(app) as client:
        started = time.monotonic()
        responses = [
            await client.get("/api/tasks", headers=bearer("alice")),
            await client.post("/api/tasks", json={"title": "x"}, headers=bearer("alice")),
            await client.get("/ready"),
        ]
        elapsed = time.monotonic() - started
        health = await client.get("/health")

    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["Retry-After"].isdigit()
        assert "Traceback" not in response.text
    assert health.status_code == 200
    assert elapsed < 5


@pytest.mark.postgres_only
async def test_a_database_error_that_is_a_bug_is_a_bare_500(database_url: str) -> None:
    async with client_with(database_url) as client:
        transport = client._transport
        assert isinstance(transport, httpx.ASGITransport)
        engine = transport.app.state.runtime.pool.engine  # type: ignore[attr-defined]
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ALTER TABLE tasks RENAME COLUMN title TO title_gone")
        try:
            response = await client.get("/api/tasks", headers=bearer("alice"))
        finally:
            async with engine.begin() as connection:
                await connection.exec_driver_sql(
                    "ALTER TABLE tasks RENAME COLUMN title_gone TO title"
                )

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Internal server error"
    assert "does not exist" not in response.text
    assert "SELECT" not in response.text


async def test_requests_waiting_for_a_connection_are_served_in_arrival_order() -> None:
    # The pool alone would hand a just-returned connection to whoever asks first, so a
    # request arriving at that moment would overtake one that had been waiting.
    slots = ConnectionSlots(
        make_settings("sqlite://", database_pool_size=1, database_max_overflow=0)
    )
    served: list[str] = []

    async def request(name: str) -> None:
        async with slots:
            served.append(name)

    await slots.__aenter__()  # a request holds the only connection
    waiting = asyncio.create_task(request("waiting"))
    await asyncio.sleep(0)
    await slots.__aexit__()  # it returns the connection just as another request arrives
    newcomer = asyncio.create_task(request("newcomer"))
    await asyncio.gather(waiting, newcomer)

    assert served == ["waiting", "newcomer"]


async def test_no_free_connection_within_the_pool_timeout_is_a_503(database_url: str) -> None:
    settings = make_settings(
        database_url, database_pool_size=1, database_max_overflow=0, database_pool_timeout=0.2
    )
    async with running(settings) as app, client_for(app) as client:
        async with app.state.runtime.pool.slots:  # every connection is taken
            started = time.monotonic()
            response = await client.get("/api/tasks", headers=bearer("alice"))
            waited = time.monotonic() - started
        afterwards = await client.get("/api/tasks", headers=bearer("alice"))

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert 0.2 <= waited < 2
    assert afterwards.status_code == 200


@pytest.mark.postgres_only
@pytest.mark.parametrize("mode", ["session", "transaction"])
async def test_ready_answers_while_requests_queue_for_connections(
    database_url: str, mode: str
) -> None:
    # A load balancer probing a busy but healthy worker must not take it out of service: the
    # probe skips the queue of requests waiting for a connection, in either pool mode.
    settings = make_settings(
        database_url,
        database_pool_mode=mode,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout=5,
    )
    async with (
        running(settings) as app,
        client_for(app) as client,
        app.state.runtime.pool.slots,  # a request holds the only place in line
    ):
        started = time.monotonic()
        response = await client.get("/ready")
        waited = time.monotonic() - started

    assert response.status_code == 200
    assert waited < 1


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_an_in_memory_sqlite_database_serves(url: str) -> None:
    # One shared connection (StaticPool): pool sizes must not be passed to it.
    async with running(make_settings(url), clean=False) as app, client_for(app) as client:
        response = await client.get("/health")

    assert response.status_code == 200


@pytest.mark.postgres_only
async def test_by_default_steady_load_reuses_pooled_connections_instead_of_opening_new_ones(
    app: FastAPI, client: httpx.AsyncClient, rows: Rows
) -> None:
    # Guards the default sizes: a pool that closes connections it could keep (overflow ones, or
    # idle ones too soon) makes a load that keeps the pool busy open a connection (a TLS
    # handshake, a server process) again and again: new server processes in every wave.
    backends = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    earlier = {row["pid"] for row in await rows(backends)}
    settings = app.state.runtime.settings
    served_by: set[int] = set()

    for _ in range(5):
        responses = await asyncio.gather(
            *(client.get("/api/tasks", headers=bearer(f"user-{n}")) for n in range(40))
        )
        assert {r.status_code for r in responses} == {200}
        served_by |= {row["pid"] for row in await rows(backends)} - earlier

    assert 0 < len(served_by) <= settings.database_pool_size + settings.database_max_overflow


@pytest.mark.postgres_only
async def test_a_migration_that_fails_halfway_leaves_nothing_behind(database_url: str) -> None:
    # Alembic runs each upgrade in one transaction on the engine create_engine makes; an
    # autocommitting engine would keep the first half of a failed revision.
    engine = create_engine(make_settings(database_url))

    async def half_a_revision() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE half_applied (id int)"))
            raise RuntimeError("the revision's second step fails")

    try:
        with pytest.raises(RuntimeError):
            await half_a_revision()
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT to_regclass('half_applied')")) is None
    finally:
        await engine.dispose()
