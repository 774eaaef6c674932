from fastapi import APIRouter, Request

from todo_api.core.deps import CurrentUser, DatabaseDep, runtime_of
from todo_api.core.errors import UNAUTHENTICATED, problem_responses
from todo_api.core.http import MAX_BODY_BYTES, JsonBody
from todo_api.tasks import service as tasks
from todo_api.users import service as users
from todo_api.users.schemas import Me, MeUpdate

router = APIRouter(tags=["users"], responses=UNAUTHENTICATED)


@router.get("/me")
async def read_me(user: CurrentUser, db: DatabaseDep, request: Request) -> Me:
    """Who the token says you are, your time zone, and how many tasks you have."""
    return await _me(db, user.user_id, request)


@router.patch("/me", max_body_size=MAX_BODY_BYTES, responses=problem_responses(413, 415, 422))
async def update_me(
    changes: MeUpdate, user: CurrentUser, db: DatabaseDep, request: Request, _: JsonBody
) -> Me:
    """Set your time zone: "today", "overdue" and timed recurrences follow it."""
    now = runtime_of(request).clock.now()
    await users.set_time_zone(db, user.user_id, changes.time_zone, now=now)
    return await _me(db, user.user_id, request)


async def _me(db: DatabaseDep, user_id: str, request: Request) -> Me:
    zone_name = await users.time_zone(db, user_id)
    counts = await tasks.count_tasks(
        db, owner=user_id, zone_name=zone_name, now=runtime_of(request).clock.now()
    )
    return Me(user_id=user_id, time_zone=zone_name, tasks=counts)
