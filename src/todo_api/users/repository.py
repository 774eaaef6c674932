"""Every SQL statement on users."""

from datetime import datetime
from functools import cache

from sqlalchemy import Executable, Table, bindparam, select, update

from todo_api.core.connections import Database
from todo_api.core.db import upsert
from todo_api.users.models import User

USERS: Table = User.__table__  # type: ignore[attr-defined]
_BY_ID = USERS.c.id == bindparam("id")
# A new user's row, stated whole: statements compiled once carry no column defaults.
_NEW = {"id": bindparam("id"), "created_at": bindparam("now"), "time_zone": "UTC", "tops_issued": 0}


@cache
def _provision(dialect: str) -> Executable:
    statement = upsert(dialect, USERS).values(_NEW)
    return statement.on_conflict_do_nothing(index_elements=["id"])


async def provision(db: Database, *, user_id: str, now: datetime) -> None:
    """Insert the user unless they exist; a concurrent first write is not an error."""
    await db.execute(_provision(db.dialect), {"id": user_id, "now": now})


@cache
def _claim_top(dialect: str) -> Executable:
    statement = upsert(dialect, USERS).values({**_NEW, "tops_issued": 1})
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={"tops_issued": USERS.c.tops_issued + 1}
    ).returning(USERS.c.tops_issued, USERS.c.time_zone)


async def claim_top(db: Database, *, user_id: str, now: datetime) -> tuple[int, str]:
    """Provision the user and take their next first place in the manual order, holding their
    row until the transaction ends; with the user's time zone."""
    row = await db.fetchrow(_claim_top(db.dialect), {"id": user_id, "now": now})
    assert row is not None
    return row[0], row[1]


_TAKE_TOP = (
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"))
    .values(tops_issued=USERS.c.tops_issued + 1)
    .returning(USERS.c.tops_issued)
)


async def take_top(db: Database, *, user_id: str) -> int:
    issued: int = await db.fetchval(_TAKE_TOP, {"user_id": user_id})
    return issued


_TIME_ZONE = select(USERS.c.time_zone).where(_BY_ID)
# FOR SHARE: a change of zone (which re-places all-day dues) waits for the writes that read
# the zone before it, and they for it.
_TIME_ZONE_SHARED = _TIME_ZONE.with_for_update(read=True)
_LOCK = select(USERS.c.time_zone).where(_BY_ID).with_for_update()


async def time_zone(db: Database, *, user_id: str, locked: bool = False) -> str | None:
    """The user's zone name (None: no such user yet), shared-locked when `locked`."""
    name: str | None = await db.fetchval(
        _TIME_ZONE_SHARED if locked else _TIME_ZONE, {"id": user_id}
    )
    return name


async def lock(db: Database, *, user_id: str) -> bool:
    """Hold the user's row until the transaction ends; False when there is no such user."""
    return await db.fetchrow(_LOCK, {"id": user_id}) is not None


@cache
def _set_time_zone(dialect: str) -> Executable:
    statement = upsert(dialect, USERS).values({**_NEW, "time_zone": bindparam("zone")})
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={"time_zone": bindparam("zone")}
    )


async def set_time_zone(db: Database, *, user_id: str, zone: str, now: datetime) -> None:
    await db.execute(_set_time_zone(db.dialect), {"id": user_id, "zone": zone, "now": now})
