"""Every SQL statement on idempotency records."""

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam, delete, func, select

from todo_api.core.connections import Database
from todo_api.core.db import upsert
from todo_api.idempotency.models import IdempotencyRecord

RECORDS: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]

_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("lock_id")))


async def try_lock(db: Database, *, lock_id: int) -> bool:
    """A PostgreSQL advisory lock held until the transaction ends; False if another has it."""
    return bool(await db.fetchval(_TRY_LOCK, {"lock_id": lock_id}))


_FIND = select(RECORDS.c.fingerprint, RECORDS.c.status_code, RECORDS.c.response).where(
    RECORDS.c.user_id == bindparam("owner"),
    RECORDS.c.key == bindparam("key"),
    RECORDS.c.created_at >= bindparam("since"),
)


async def find(db: Database, *, owner: str, key: str, since: datetime) -> Any | None:
    """(fingerprint, status code, response body) of the owner's record made since `since`."""
    return await db.fetchrow(_FIND, {"owner": owner, "key": key, "since": since})


@cache
def _store(dialect: str) -> Executable:
    statement = upsert(dialect, RECORDS).values(
        user_id=bindparam("owner"),
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        status_code=bindparam("status_code"),
        response=bindparam("response"),
        created_at=bindparam("now"),
    )
    # An expired record under the same key is replaced.
    return statement.on_conflict_do_update(
        index_elements=["user_id", "key"],
        set_={
            name: statement.excluded[name]
            for name in ("fingerprint", "status_code", "response", "created_at")
        },
    )


async def store(
    db: Database,
    *,
    owner: str,
    key: str,
    fingerprint: str,
    status_code: int,
    response: str,
    now: datetime,
) -> None:
    params = {
        "owner": owner,
        "key": key,
        "fingerprint": fingerprint,
        "status_code": status_code,
        "response": response,
        "now": now,
    }
    await db.execute(_store(db.dialect), params)


_DELETE_OLDER = (
    delete(RECORDS).where(RECORDS.c.created_at < bindparam("cutoff")).returning(RECORDS.c.key)
)


async def delete_older_than(db: Database, cutoff: datetime) -> int:
    return len(await db.fetch(_DELETE_OLDER, {"cutoff": cutoff}))
