"""The Alembic history builds exactly the schema the models describe, and its rules hold."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from tests.conftest import make_settings
from todo_api.core.db import create_engine
from todo_api.migrations import upgrade


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, SQLModel.metadata))


# SQLite cannot reflect expression indexes, so lower(title) is compared on PostgreSQL only.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(make_settings(database_url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()

    assert differences == []


def test_downgrade_and_upgrade_round_trip(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'round.db'}")

    upgrade(settings)
    from alembic import command  # noqa: PLC0415

    from todo_api.migrations import alembic_config  # noqa: PLC0415

    command.downgrade(alembic_config(settings), "base")
    upgrade(settings)


@pytest.mark.parametrize(
    "values",
    [
        "'alice', '', NULL",
        "'alice', ' padded ', NULL",
        f"'alice', '{'x' * 201}', NULL",
        "'alice', 'ok', ''",
        f"'alice', 'ok', '{'d' * 1001}'",
        "'nobody', 'ok', NULL",
    ],
)
async def test_the_database_itself_refuses_invalid_rows(database_url: str, values: str) -> None:
    engine = create_engine(make_settings(database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO users (id, created_at) VALUES ('alice', CURRENT_TIMESTAMP)")
            )
        with pytest.raises(DBAPIError):  # IntegrityError, or DataError for varchar overflow
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO tasks (user_id, title, description, completed, created_at,"
                        f" updated_at, version, position) VALUES ({values}, false,"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 'a0')"
                    )
                )
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM users"))
        await engine.dispose()


async def test_deleting_a_user_deletes_their_tasks(database_url: str) -> None:
    engine = create_engine(make_settings(database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO users (id, created_at) VALUES ('gone', CURRENT_TIMESTAMP)")
            )
            await connection.execute(
                text(
                    "INSERT INTO tasks (user_id, title, completed, created_at, updated_at, version,"
                    " position) VALUES ('gone', 't', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
                    " 1, 'a0')"
                )
            )
            await connection.execute(text("DELETE FROM users WHERE id = 'gone'"))
            remaining = (await connection.execute(text("SELECT count(*) FROM tasks"))).scalar()
    finally:
        await engine.dispose()

    assert remaining == 0
