from functools import cache

from sqlalchemy import Executable, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from todo_api.core.columns import utcnow
from todo_api.core.db import upsert
from todo_api.users.models import User

USERS: Table = User.__table__  # type: ignore[attr-defined]


async def ensure_user(db: AsyncConnection, user_id: str) -> None:
    """Provision the user row on first write; a concurrent first write is not an error."""
    await db.execute(_provision(db.dialect.name), {"id": user_id, "created_at": utcnow()})


@cache
def _provision(dialect: str) -> Executable:
    # Built once per dialect, like the task statements: building costs more than running.
    return upsert(dialect, USERS).on_conflict_do_nothing(index_elements=["id"])
