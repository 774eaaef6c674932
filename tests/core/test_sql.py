"""The database writes a task's JSON itself: it must be byte for byte what pydantic writes, on
PostgreSQL and on SQLite, for any value a task can hold.

The row is a real one, inserted into the migrated table with every column set, and its JSON is
what the repository's own read (`find_task`, over `TASK_JSON`) returns for it; nothing of the
repository's column-to-JSON mapping is copied here. Values go in as the service stores them:
a priority as its rank, tags with their matching keys (`planning.stored_values`), and tags
and reminders in the form their validators leave them.
"""

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import bindparam, insert

from tests.conftest import make_settings
from todo_api.core.connections import DatabasePool
from todo_api.core.db import create_engine
from todo_api.tasks import dues, planning
from todo_api.tasks import repository as tasks
from todo_api.tasks.models import DESCRIPTION_MAX, PRIORITIES, TITLE_MAX
from todo_api.tasks.positions import between, top_position
from todo_api.tasks.schemas import REMINDER_MAX, TAG_MAX, Reminders, Tags, TaskRead
from todo_api.users import repository as users

# Every string a task can store: any code point but NUL and lone surrogates (refused as input),
# so control characters, quotes, backslashes, U+2028 and emoji all need the right escapes.
stored_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
# Whole seconds too: pydantic leaves the fraction out then.
server_times = times | times.map(lambda t: t.replace(microsecond=0))
# A due time is the client's: any instant from year 1 to 9999 that the API accepts.
any_times = st.datetimes(timezones=st.just(UTC))
due_times = any_times | any_times.map(lambda t: t.replace(microsecond=0))

# What a tag may be (no commas, no control characters), with the characters JSON and
# PostgreSQL's array syntax treat specially spelled out, so they turn up in every run.
_AWKWARD = ['"', "\\", "{", "}", "NULL", "\u2028", "\u2029", "'", " ", "/", "\U0001f600", "é"]
tag_text = (
    st.lists(
        st.sampled_from(_AWKWARD)
        | st.text(
            st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters=","),
            min_size=1,
        ),
        min_size=1,
        max_size=4,
    )
    .map("".join)
    .map(str.strip)
    .filter(lambda tag: 1 <= len(tag) <= TAG_MAX)
)
# Through the API's own validators: trimmed, merged ignoring case, sorted; durations in the
# form the API writes back.
_TAGS = TypeAdapter(Tags)
_REMINDERS = TypeAdapter(Reminders)
_DURATION = TypeAdapter(timedelta)
tag_lists = st.lists(tag_text, max_size=20).map(_TAGS.validate_python)
reminder_lists = st.lists(
    st.timedeltas(min_value=timedelta(0), max_value=REMINDER_MAX), max_size=5
).map(
    lambda offsets: _REMINDERS.validate_python(
        [_DURATION.dump_python(o, mode="json") for o in offsets]
    )
)
# First places from the user's counter, and keys between two of them (the last one, all
# zeros, is the scheme's smallest key, which has nothing before it).
positions = st.integers(1, 10**26 - 2).map(top_position) | st.integers(1, 10**26 - 3).map(
    lambda issued: between(top_position(issued + 1), top_position(issued))
)
rules = st.sampled_from(
    [
        "FREQ=DAILY",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
        "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12",
        "FREQ=YEARLY;BYMONTH=2;BYDAY=-1SU",
    ]
)


@st.composite
def task_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A task as TaskRead holds it: every field, each with any value the API can store."""
    due = draw(st.sampled_from(["none", "date", "time"]))
    return {
        "id": draw(st.integers(1, 2**63 - 1)),
        "user_id": draw(stored_text.filter(bool).map(lambda s: s[:255])),
        "title": draw(stored_text.map(lambda s: s.strip()[:TITLE_MAX].strip()).filter(bool)),
        "description": draw(
            st.none() | stored_text.filter(bool).map(lambda s: s[:DESCRIPTION_MAX])
        ),
        "completed": draw(st.booleans()),
        "priority": draw(st.sampled_from(PRIORITIES)),
        "due_date": draw(st.dates()) if due == "date" else None,
        "due_at": draw(due_times) if due == "time" else None,
        "tags": draw(tag_lists),
        "recurrence": draw(st.none() | rules) if due != "none" else None,
        "reminders": draw(reminder_lists),
        "position": draw(positions),
        "completed_at": draw(st.none() | server_times),
        "created_at": draw(server_times),
        "updated_at": draw(server_times),
        "version": draw(st.integers(1, 2**31 - 1)),
    }


def stored_row(task: dict[str, Any]) -> dict[str, Any]:
    """The row the service would store for `task`, every column set."""
    due_date: date | None = task["due_date"]
    due_at: datetime | None = task["due_at"]
    row = {**task, **planning.stored_values({"priority": task["priority"], "tags": task["tags"]})}
    row["due_key"] = dues.due_key(due_date, due_at, dues.zone(dues.DEFAULT_ZONE))
    due = due_date if due_date is not None else due_at
    row["series_start"] = due.isoformat() if task["recurrence"] and due is not None else None
    return row


# The row with its id: the repository's own insert leaves the id to the database.
_INSERT = insert(tasks.TASKS).values(
    {column.name: bindparam(column.name) for column in tasks.TASKS.c}
)


class _RolledBack(Exception):
    """Leaves nothing behind: every example's rows go with its transaction."""


@pytest.fixture
def database(database_url: str) -> Iterator[tuple[asyncio.Runner, DatabasePool]]:
    configured = make_settings(database_url)
    pool = DatabasePool(configured, create_engine(configured))
    with asyncio.Runner() as runner:
        runner.run(pool.open())
        yield runner, pool
        runner.run(pool.close())


def test_every_stored_column_is_in_the_columns_the_test_sets() -> None:
    # A new column must get a value here (and so a place in the generated rows) to be tested.
    row = stored_row(
        {
            **dict.fromkeys(TaskRead.model_fields),
            "priority": "none",
            "tags": [],
            "recurrence": None,
        }
    )
    assert set(row) == {column.name for column in tasks.TASKS.c}


def test_the_database_writes_a_tasks_json_exactly_as_pydantic_does(
    database: tuple[asyncio.Runner, DatabasePool],
) -> None:
    runner, pool = database

    async def written(task: dict[str, Any]) -> tasks.StoredTask | None:
        found = None
        try:
            async with pool.transaction() as db:
                await users.provision(db, user_id=task["user_id"], now=task["created_at"])
                await db.execute(_INSERT, stored_row(task))
                found = await tasks.find_task(db, owner=task["user_id"], task_id=task["id"])
                raise _RolledBack
        except _RolledBack:
            pass
        return found

    @settings(max_examples=150, deadline=None)
    @given(task_fields())
    def check(task: dict[str, Any]) -> None:
        stored = runner.run(written(task))
        assert stored is not None
        assert stored.json == TaskRead(**task).model_dump_json()
        assert (stored.id, stored.version) == (task["id"], task["version"])

    check()
