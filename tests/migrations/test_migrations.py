"""The Alembic history builds exactly the schema the models describe, and its rules hold."""

import sqlite3
from contextlib import closing
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


def test_planning_migration_keeps_existing_tasks_in_order_and_the_sqlite_schema_whole(
    tmp_path: Any,
) -> None:
    path = tmp_path / "before-planning.db"
    settings = make_settings(f"sqlite+aiosqlite:///{path}")
    upgrade(settings, "0002")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO users (id, created_at) VALUES ('alice', '2026-01-01 00:00:00')")
        for n, done in enumerate((True, False, False, False), start=1):
            db.execute(
                "INSERT INTO tasks (user_id, title, completed, created_at, updated_at, version)"
                " VALUES ('alice', ?, ?, ?, ?, 1)",
                (f"t{n}", done, f"2026-01-0{n} 00:00:00", f"2026-02-0{n} 00:00:00"),
            )
        db.execute("DELETE FROM tasks WHERE title = 't4'")  # its id must never come back

    upgrade(settings)

    with closing(sqlite3.connect(path)) as db:
        in_order = db.execute("SELECT title FROM tasks ORDER BY position").fetchall()
        completed = db.execute("SELECT title, completed_at FROM tasks WHERE completed").fetchall()
        issued = db.execute("SELECT tops_issued FROM users").fetchone()
        table_sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'tasks'").fetchone()
        indexes = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        db.execute(
            "INSERT INTO tasks (user_id, title, completed, created_at, updated_at, version,"
            " position) VALUES ('alice', 'new', 0, '2026-03-01', '2026-03-01', 1, 'A0')"
        )
        new_id = db.execute("SELECT id FROM tasks WHERE title = 'new'").fetchone()

    assert in_order == [("t3",), ("t2",), ("t1",)]  # newest first, as the default listing
    assert completed == [("t1", "2026-02-01 00:00:00")]
    assert issued == (3,)
    assert "AUTOINCREMENT" in table_sql[0]
    assert {"ix_tasks_user_title", "ix_tasks_user_created", "ix_tasks_user_position"} <= indexes
    assert new_id == (5,)


@pytest.mark.postgres_only
async def test_positions_compare_as_bytes_whatever_the_database_collation(
    database_url: str,
) -> None:
    engine = create_engine(make_settings(database_url))
    try:
        async with engine.connect() as connection:
            collation = await connection.scalar(
                text(
                    "SELECT collation_name FROM information_schema.columns"
                    " WHERE table_name = 'tasks' AND column_name = 'position'"
                )
            )
    finally:
        await engine.dispose()

    # Under en_US or ICU collations `V` would sort after `l`; keys are ordered by bytes.
    assert collation == "C"
