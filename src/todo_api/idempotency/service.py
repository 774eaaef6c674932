"""Idempotency keys for POST (IETF httpapi idempotency-key draft): one effect per key and user."""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from todo_api.core.clock import Clock
from todo_api.core.connections import Database, DatabasePool
from todo_api.core.errors import AppError
from todo_api.idempotency import repository as records

logger = logging.getLogger("todo_api.idempotency")

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


async def claim(db: Database, *, owner: str, key: str, print_: str, now: datetime) -> Replay | None:
    """Take the key for this request (None), or return the earlier response to replay.

    On PostgreSQL a transaction-scoped advisory lock marks the request as in flight: a retry
    that arrives meanwhile cannot take it and gets 409 at once; it is released by the same
    commit or rollback that keeps or discards the task, so no half-done key survives a crash.
    """
    if db.dialect == "postgresql" and not await records.try_lock(db, lock_id=_lock_id(owner, key)):
        raise RequestInFlight
    record = await records.find(db, owner=owner, key=key, since=now - KEEP_FOR)
    if record is None:
        return None
    fingerprint, status_code, response = record[0], record[1], record[2]
    if fingerprint != print_:
        raise KeyReused
    return Replay(status_code, response)


async def remember(
    db: Database,
    *,
    owner: str,
    key: str,
    print_: str,
    status_code: int,
    body: str,
    now: datetime,
) -> None:
    """Store the response in the request's own transaction."""
    await records.store(
        db,
        owner=owner,
        key=key,
        fingerprint=print_,
        status_code=status_code,
        response=body,
        now=now,
    )


async def prune_expired(db: Database, *, now: datetime) -> int:
    return await records.delete_older_than(db, now - KEEP_FOR)


async def prune_forever(pool: DatabasePool, clock: Clock, every: float) -> None:
    """Background loop for the app's lifetime; a database outage only delays the next prune."""
    while True:
        await asyncio.sleep(every)
        try:
            async with pool.transaction() as db:
                removed = await prune_expired(db, now=clock.now())
            if removed:
                logger.info("pruned %d expired idempotency keys", removed)
        except Exception:
            logger.warning("pruning idempotency keys failed; will retry", exc_info=True)
