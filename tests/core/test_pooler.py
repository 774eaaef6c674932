"""Behind a transaction-mode pooler (PgBouncer here, as Neon's `-pooler` endpoints are): what a
request does must not outlive its transaction, because the next transaction on the same server
connection may be another client's."""

import anyio
import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import bearer, client_for, client_with, make_settings, running
from tests.pgbouncer import SERVER_CONNECTIONS
from todo_api.core.deps import DatabaseDep

# Parameters PgBouncer itself keeps in step on its server connections, with SET.
_POOLER_TRACKED = [
    "application_name",
    "client_encoding",
    "datestyle",
    "timezone",
    "standard_conforming_strings",
]


async def _busy(client: httpx.AsyncClient) -> None:
    """Reads and writes of every kind from many client connections at once."""

    async def session(user: str) -> None:
        headers = bearer(user)
        created = await client.post("/api/tasks", json={"title": "t"}, headers=headers)
        task = created.json()
        conditional = {**headers, "If-Match": '"2"'}
        for response in (
            created,
            await client.get("/api/tasks", headers=headers),
            await client.patch(f"/api/tasks/{task['id']}/complete", headers=headers),
            await client.put(f"/api/tasks/{task['id']}", json={"title": "u"}, headers=conditional),
            await client.post(
                "/api/tasks", json={"title": "k"}, headers={**headers, "Idempotency-Key": "k"}
            ),
            await client.get("/api/me", headers=headers),
            await client.delete(f"/api/tasks/{task['id']}", headers=headers),
            await client.get("/ready"),
        ):
            assert response.status_code < 300, response.text

    async with anyio.create_task_group() as group:
        for n in range(30):
            group.start_soon(session, f"user-{n}")


async def _every_server_connection(pgbouncer_url: str) -> list[dict[str, object]]:
    """What each of PgBouncer's server connections holds, seen from inside a transaction on it.

    As many open transactions as there are server connections each have one to themselves,
    so between them they see every one.
    """
    dsn = make_url(pgbouncer_url).set(drivername="postgresql").render_as_string(False)
    clients = [
        await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(SERVER_CONNECTIONS)
    ]
    try:
        seen = []
        for connection in clients:
            await connection.execute("BEGIN")
            seen.append(
                {
                    "pid": await connection.fetchval("SELECT pg_backend_pid()"),
                    "prepared": await connection.fetchval(
                        "SELECT count(*) FROM pg_prepared_statements"
                    ),
                    "changed": await connection.fetchval(
                        "SELECT array_agg(name) FROM pg_settings WHERE source = 'session'"
                        " AND setting IS DISTINCT FROM reset_val"
                        " AND lower(name) <> ALL($1::text[])",
                        _POOLER_TRACKED,
                    ),
                }
            )
        return seen
    finally:
        for connection in clients:
            await connection.close()


async def test_requests_leave_no_statements_or_settings_on_shared_server_connections(
    pgbouncer_url: str,
) -> None:
    async with client_with(pgbouncer_url, rate_limit_enabled=False) as client:
        await _busy(client)

    servers = await _every_server_connection(pgbouncer_url)

    assert len({server["pid"] for server in servers}) == SERVER_CONNECTIONS
    assert [(server["prepared"], server["changed"]) for server in servers] == [
        (0, None)
    ] * SERVER_CONNECTIONS


async def test_a_statement_whose_types_asyncpg_looks_up_leaves_no_setting_behind(
    pgbouncer_url: str,
) -> None:
    # asyncpg looks up a type it has no codec for (a table's row type here; an enum or a
    # domain a later migration adds) with JIT switched off by a session-wide set_config
    # around the query, each in its own exchange: outside a transaction a pooler may send
    # them to different server connections, and `jit = off` stays on one of them.
    async with running(make_settings(pgbouncer_url, rate_limit_enabled=False)) as app:

        @app.get("/row-type")
        async def row_type(db: DatabaseDep) -> None:
            await db.execute(text("SELECT NULL::users"), {})

        async with client_for(app) as client, anyio.create_task_group() as group:
            for _ in range(30):
                group.start_soon(client.get, "/row-type")

    servers = await _every_server_connection(pgbouncer_url)

    assert [server["changed"] for server in servers] == [None] * SERVER_CONNECTIONS
