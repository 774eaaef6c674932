"""The throwaway database: create, migrate, seed, reset between runs, drop."""

import os
import random
import secrets
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]

# The API's own rules for a due's sort instant and a new task's place in the manual order.
from todo_api.tasks import dues, positions  # type: ignore[import-untyped]

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
    "priority",
    "due_date",
    "due_at",
    "due_key",
    "tags",
    "tag_keys",
    "reminders",
    "position",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
)
# The users' time zones, in turn; the pager's is UTC.
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
# Each tag's share of tasks (the second list of the mix asks for `work`).
TAG_SHARES = (("work", 0.5), ("home", 0.25), ("errands", 0.2), ("health", 0.1))
PRIORITY_WEIGHTS = (40, 20, 20, 15, 5)  # none, low, medium, high, urgent (ranks 0-4)
REMINDER_CHOICES: tuple[list[str], ...] = ([], [], ["PT15M"], ["PT1H"], ["PT15M", "P1D"])
RANDOM_SEED = 13


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


def _due_day(rng: random.Random) -> int:
    """Days from the owner's today: a few overdue, most within the coming weeks."""
    band = rng.random()
    if band < 0.15:
        return rng.randint(-5, -1)
    if band < 0.25:
        return 0
    if band < 0.7:
        return rng.randint(1, 7)  # what `due=upcoming` finds
    return rng.randint(8, 28)


def _planning(rng: random.Random, zone: ZoneInfo, today: date) -> tuple[object, ...]:
    """Priority, due_date, due_at, due_key, tags, tag_keys and reminders of one task, as the
    API stores them: 30% due on a day, 30% at a time, the rest without a due; no recurrence,
    so a toggle stays the API's one-statement path."""
    priority = rng.choices(range(len(PRIORITY_WEIGHTS)), PRIORITY_WEIGHTS)[0]
    kind = rng.random()
    due_date: date | None = None
    due_at: datetime | None = None
    reminders: list[str] = []
    if kind < 0.3:
        due_date = today + timedelta(days=_due_day(rng))
    elif kind < 0.6:
        day = today + timedelta(days=_due_day(rng))
        local = time(rng.randint(8, 18), rng.choice((0, 15, 30, 45)))
        due_at = datetime.combine(day, local, tzinfo=zone).astimezone(UTC)
        reminders = rng.choice(REMINDER_CHOICES)
    tags = sorted(tag for tag, share in TAG_SHARES if rng.random() < share)
    key = dues.due_key(due_date, due_at, zone)
    return priority, due_date, due_at, key, tags, tags, reminders


def _task(
    user: str,
    title: str,
    description: str | None,
    completed: bool,
    at: datetime,
    place: int,
    planning: tuple[object, ...],
) -> tuple[object, ...]:
    position = positions.top_position(place)
    done_at = at if completed else None
    return (user, title, description, completed, *planning, position, done_at, at, at, 1)


async def seed(database_url: str) -> Seed:
    """1000 users x 20 tasks, and one user with 1000 tasks for the paging test, by COPY.

    The tasks carry planning data (priorities, dues over the coming weeks in their owner's time
    zone, tags, reminders), drawn from a fixed random seed, and their places in the manual
    order as the API hands them out: the n-th task a user created holds their n-th first place.
    """
    now = datetime.now(UTC)
    rng = random.Random(RANDOM_SEED)  # noqa: S311 (the same data every run, not a secret)
    users = user_ids()
    zones = {user: ZONES[u % len(ZONES)] for u, user in enumerate(users)} | {PAGER_ID: "UTC"}
    today = {name: now.astimezone(ZoneInfo(name)).date() for name in ZONES}
    records: list[tuple[object, ...]] = []
    # Distinct creation times a second apart, oldest first, so pages have a stable order.
    start = now - timedelta(seconds=len(users) * TASKS_PER_USER + PAGER_TASKS + 60)
    for n in range(TASKS_PER_USER):
        for u, user in enumerate(users):
            at = start + timedelta(seconds=n * len(users) + u)
            description = f"Seeded task {n} of {user}" if n % 2 == 0 else None
            zone = zones[user]
            planning = _planning(rng, ZoneInfo(zone), today[zone])
            records.append(_task(user, f"Task {n}", description, n % 3 == 0, at, n + 1, planning))
    pager_start = start + timedelta(seconds=len(users) * TASKS_PER_USER)
    for n in range(PAGER_TASKS):
        at = pager_start + timedelta(seconds=n)
        planning = _planning(rng, ZoneInfo("UTC"), today["UTC"])
        description = f"Task {n} of the pager"
        records.append(
            _task(PAGER_ID, f"Page task {n}", description, n % 2 == 0, at, n + 1, planning)
        )

    issued = dict.fromkeys(users, TASKS_PER_USER) | {PAGER_ID: PAGER_TASKS}
    connection = await _connect(database_url)
    try:
        await connection.copy_records_to_table(
            "users",
            records=[(user, now, zones[user], issued[user]) for user in [*users, PAGER_ID]],
            columns=("id", "created_at", "time_zone", "tops_issued"),
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

    Toggles stay: they change no row count, and VACUUM clears their dead row versions. So do
    the users' counters of first places, which creates raised: they only ever grow, so every
    place handed out later is still new; VACUUM clears the users' dead row versions too.
    """
    connection = await _connect(database_url)
    try:
        await connection.execute("DELETE FROM tasks WHERE id > $1", seed.max_task_id)
        await connection.execute("VACUUM (ANALYZE) tasks")
        await connection.execute("VACUUM (ANALYZE) users")
    finally:
        await connection.close()
