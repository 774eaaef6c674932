"""Alembic environment: async engine from the same settings and URL handling as the app."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from todo_api.core.config import Settings, get_settings
from todo_api.core.db import create_engine
from todo_api.idempotency import models as _idempotency  # noqa: F401  (registers the tables)
from todo_api.tasks import models as _tasks  # noqa: F401
from todo_api.users import models as _users  # noqa: F401

settings: Settings = context.config.attributes.get("settings") or get_settings()


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run `todo-api migrate`.")
asyncio.run(run_async())
