"""The database writes a task's JSON itself: it must be byte for byte what pydantic writes, on
PostgreSQL and on SQLite, for any value a task can hold."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Boolean, Text, bindparam, select

from tests.conftest import make_settings
from todo_api.core.columns import UTCDateTime
from todo_api.core.connections import DatabasePool
from todo_api.core.db import create_engine
from todo_api.core.sql import json_object, rfc3339
from todo_api.tasks.models import DESCRIPTION_MAX, TITLE_MAX
from todo_api.tasks.schemas import TaskRead

# Every string a task can store: any code point but NUL and lone surrogates (refused as input),
# so control characters, quotes, backslashes, U+2028 and emoji all need the right escapes.
stored_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
tasks = st.fixed_dictionaries(
    {
        "id": st.integers(1, 2**63 - 1),
        "user_id": stored_text.filter(bool).map(lambda s: s[:255]),
        "title": stored_text.filter(bool).map(lambda s: s[:TITLE_MAX]),
        "description": st.none() | stored_text.filter(bool).map(lambda s: s[:DESCRIPTION_MAX]),
        "completed": st.booleans(),
        # Whole seconds too: pydantic leaves the fraction out then.
        "created_at": times | times.map(lambda t: t.replace(microsecond=0)),
        "updated_at": times,
        "version": st.integers(1, 2**31 - 1),
    }
)
_TYPES = {
    "id": BigInteger,
    "user_id": Text,
    "title": Text,
    "description": Text,
    "completed": Boolean,
    "created_at": UTCDateTime,
    "updated_at": UTCDateTime,
    "version": BigInteger,
}
# The same construct the task repository uses, over bound values instead of a row.
TASK_JSON = select(
    json_object(
        *(
            (
                rfc3339(bindparam(name, type_=_TYPES[name]))
                if name.endswith("_at")
                else bindparam(name, type_=_TYPES[name])
            ).label(name)
            for name in TaskRead.model_fields
        )
    )
)


@pytest.fixture
def database(database_url: str) -> Iterator[tuple[asyncio.Runner, DatabasePool]]:
    configured = make_settings(database_url)
    pool = DatabasePool(configured, create_engine(configured))
    with asyncio.Runner() as runner:
        runner.run(pool.open())
        yield runner, pool
        runner.run(pool.close())


def test_the_database_writes_a_tasks_json_exactly_as_pydantic_does(
    database: tuple[asyncio.Runner, DatabasePool],
) -> None:
    runner, pool = database

    async def written(task: dict[str, Any]) -> str:
        async with pool.connection() as connection:
            text: str = await connection.fetchval(TASK_JSON, task)
        return text

    @settings(max_examples=150, deadline=None)
    @given(tasks)
    def check(task: dict[str, Any]) -> None:
        assert runner.run(written(task)) == TaskRead(**task).model_dump_json()

    check()
