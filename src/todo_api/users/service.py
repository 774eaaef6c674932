from datetime import datetime

from todo_api.core.connections import Database
from todo_api.tasks import repository as tasks
from todo_api.tasks.dues import DEFAULT_ZONE, due_key, zone
from todo_api.users import repository as users


async def ensure_user(db: Database, user_id: str, *, now: datetime) -> None:
    """Users are known here by their Better Auth id only: provisioned on their first write."""
    await users.provision(db, user_id=user_id, now=now)


async def time_zone(db: Database, user_id: str, *, locked: bool = False) -> str:
    """The user's IANA time zone (UTC until they set one)."""
    return await users.time_zone(db, user_id=user_id, locked=locked) or DEFAULT_ZONE


async def set_time_zone(db: Database, user_id: str, name: str, *, now: datetime) -> None:
    """Set the zone and re-place every all-day due at 00:00 of its day there, in one
    transaction: a write that read the old zone finishes first (it holds the row shared)."""
    async with db.transaction() as tx:
        await users.set_time_zone(tx, user_id=user_id, zone=name, now=now)
        tz = zone(name)
        for task_id, day in await tasks.all_day_dues(tx, owner=user_id):
            key = due_key(day, None, tz)
            assert key is not None
            await tasks.set_due_key(tx, owner=user_id, task_id=task_id, key=key)
