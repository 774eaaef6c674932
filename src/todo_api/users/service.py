from datetime import datetime

from todo_api.core.connections import Database
from todo_api.users import repository as users


async def ensure_user(db: Database, user_id: str, *, now: datetime) -> None:
    """Users are known here by their Better Auth id only: provisioned on their first write."""
    await users.provision(db, user_id=user_id, now=now)
