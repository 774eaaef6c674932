"""The throwaway database: create, migrate, seed, reset between runs, drop."""

import os
import secrets
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
USER_COUNT = 1000
TASKS_PER_USER = 20
PAGER_TASKS = 1000
PAGER_ID = "bench-pager"
TASK_COLUMNS = (
    "user_id",
    "title",
    "description",
    "completed",
    "created_at",
    "updated_at",
    "version",
)


@dataclass(frozen=True, slots=True)
class Seed:
    """What the load generator needs to know about the seeded rows."""

    task_ids: dict[str, list[int]]  # user id -> the ids of that user's seeded tasks
    pager_id: str
    max_task_id: int  # rows above it were made by a run, and are deleted before the next


def server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def user_ids() -> list[str]:
    return [f"bench-user-{n:04d}" for n in range(USER_COUNT)]


async def _connect(url: str) -> "asyncpg.Connection":
    return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))


async def server_facts(url: str) -> tuple[int, int]:
    """PostgreSQL's max_connections and how many connections are open now."""
    connection = await _connect(url)
    try:
        limit = int(await connection.fetchval("SHOW max_connections"))
        in_use = int(await connection.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await connection.close()
    return limit, in_use


async def create(url: str) -> str:
    name = f"todo_bench_{secrets.token_hex(4)}"
    connection = await _connect(url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def drop(url: str, name: str) -> None:
    connection = await _connect(url)
    try:
        # FORCE (PostgreSQL 13+) ends any connection a killed server may have left behind.
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def migrate(database_url: str, todo_api: Path, env: dict[str, str], workdir: Path) -> None:
    """`todo-api migrate`, as an operator applies a release's migrations."""
    result = subprocess.run(  # noqa: S603 (our own argv, no shell)
        [str(todo_api), "migrate"],
        cwd=workdir,
        env={**env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"todo-api migrate failed:\n{result.stdout}{result.stderr}")


async def seed(database_url: str) -> Seed:
    """1000 users x 20 tasks, and one user with 1000 tasks for the paging test, by COPY."""
    now = datetime.now(UTC)
    users = user_ids()
    records: list[tuple[object, ...]] = []
    # Distinct creation times a second apart, oldest first, so pages have a stable order.
    start = now - timedelta(seconds=len(users) * TASKS_PER_USER + PAGER_TASKS + 60)
    for n in range(TASKS_PER_USER):
        for u, user in enumerate(users):
            at = start + timedelta(seconds=n * len(users) + u)
            description = f"Seeded task {n} of {user}" if n % 2 == 0 else None
            records.append((user, f"Task {n}", description, n % 3 == 0, at, at, 1))
    pager_start = start + timedelta(seconds=len(users) * TASKS_PER_USER)
    for n in range(PAGER_TASKS):
        at = pager_start + timedelta(seconds=n)
        records.append(
            (PAGER_ID, f"Page task {n}", f"Task {n} of the pager", n % 2 == 0, at, at, 1)
        )

    connection = await _connect(database_url)
    try:
        await connection.copy_records_to_table(
            "users",
            records=[(user, now) for user in [*users, PAGER_ID]],
            columns=("id", "created_at"),
        )
        await connection.copy_records_to_table("tasks", records=records, columns=TASK_COLUMNS)
        await connection.execute("ANALYZE users")
        await connection.execute("ANALYZE tasks")
        rows = await connection.fetch(
            "SELECT user_id, array_agg(id ORDER BY id) AS ids FROM tasks GROUP BY user_id"
        )
        max_id = int(await connection.fetchval("SELECT max(id) FROM tasks"))
    finally:
        await connection.close()
    task_ids = {row["user_id"]: list(row["ids"]) for row in rows if row["user_id"] != PAGER_ID}
    return Seed(task_ids=task_ids, pager_id=PAGER_ID, max_task_id=max_id)


async def reset(database_url: str, seed: Seed) -> None:
    """Back to the seeded rows, so every run (and both servers) starts from the same table.

    Toggles stay: they change no row count, and VACUUM clears their dead row versions.
    """
    connection = await _connect(database_url)
    try:
        await connection.execute("DELETE FROM tasks WHERE id > $1", seed.max_task_id)
        await connection.execute("VACUUM (ANALYZE) tasks")
    finally:
        await connection.close()
