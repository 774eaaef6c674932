"""Idempotency keys for POST (IETF httpapi idempotency-key draft): one effect per key and user."""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from todo_api.core.columns import utcnow
from todo_api.core.db import ConnectionSlots, upsert
from todo_api.core.errors import AppError
from todo_api.idempotency.models import IdempotencyRecord

logger = logging.getLogger("todo_api.idempotency")

RECORDS: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
KEEP_FOR = timedelta(hours=24)


class RequestInFlight(AppError):
    status = 409
    detail = "A request with this Idempotency-Key is still being processed; retry shortly"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class KeyReused(AppError):
    status = 422
    detail = "This Idempotency-Key was already used with a different request body"


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    body: str


def fingerprint(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _lock_id(owner: str, key: str) -> int:
    digest = hashlib.sha256(f"{owner}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def claim(db: AsyncConnection, *, owner: str, key: str, print_: str) -> Replay | None:
    """Take the key for this request (None), or return the earlier response to replay.

    On PostgreSQL a transaction-scoped advisory lock marks the request as in flight: a retry
    that arrives meanwhile cannot take it and gets 409 at once; it is released by the same
    commit or rollback that keeps or discards the task, so no half-done key survives a crash.
    """
    if db.dialect.name == "postgresql":
        taken = await db.scalar(select(func.pg_try_advisory_xact_lock(_lock_id(owner, key))))
        if not taken:
            raise RequestInFlight
    record = (
        await db.execute(
            select(RECORDS.c.fingerprint, RECORDS.c.status_code, RECORDS.c.response).where(
                RECORDS.c.user_id == owner,
                RECORDS.c.key == key,
                RECORDS.c.created_at >= utcnow() - KEEP_FOR,
            )
        )
    ).one_or_none()
    if record is None:
        return None
    if record.fingerprint != print_:
        raise KeyReused
    return Replay(record.status_code, record.response)


async def remember(
    db: AsyncConnection, *, owner: str, key: str, print_: str, status_code: int, body: str
) -> None:
    """Store the response in the request's own transaction (an expired record is replaced)."""
    values = {"fingerprint": print_, "status_code": status_code, "response": body}
    statement = upsert(db.dialect.name, RECORDS).values(
        user_id=owner, key=key, created_at=utcnow(), **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "key"],
        set_={**values, "created_at": statement.excluded.created_at},
    )
    await db.execute(statement)


async def prune_expired(db: AsyncConnection) -> int:
    result = await db.execute(delete(RECORDS).where(RECORDS.c.created_at < utcnow() - KEEP_FOR))
    return int(getattr(result, "rowcount", 0) or 0)


async def prune_forever(engine: AsyncEngine, slots: ConnectionSlots, every: float) -> None:
    """Background loop for the app's lifetime; a database outage only delays the next prune."""
    while True:
        await asyncio.sleep(every)
        try:
            async with slots, engine.begin() as db:
                removed = await prune_expired(db)
            if removed:
                logger.info("pruned %d expired idempotency keys", removed)
        except Exception:
            logger.warning("pruning idempotency keys failed; will retry", exc_info=True)
