"""Every SQL statement on users."""

from datetime import datetime
from functools import cache

from sqlalchemy import Executable, Table, bindparam

from todo_api.core.connections import Database
from todo_api.core.db import upsert
from todo_api.users.models import User

USERS: Table = User.__table__  # type: ignore[attr-defined]


@cache
def _provision(dialect: str) -> Executable:
    statement = upsert(dialect, USERS).values(id=bindparam("id"), created_at=bindparam("now"))
    return statement.on_conflict_do_nothing(index_elements=["id"])


async def provision(db: Database, *, user_id: str, now: datetime) -> None:
    """Insert the user unless they exist; a concurrent first write is not an error."""
    await db.execute(_provision(db.dialect), {"id": user_id, "now": now})
