from fastapi import APIRouter

from todo_api.core.deps import CurrentUser, DatabaseDep
from todo_api.core.errors import UNAUTHENTICATED
from todo_api.tasks import service as tasks
from todo_api.users.schemas import Me

router = APIRouter(tags=["users"], responses=UNAUTHENTICATED)


@router.get("/me")
async def read_me(user: CurrentUser, db: DatabaseDep) -> Me:
    """Who the token says you are, and how many tasks you have."""
    return Me(user_id=user.user_id, tasks=await tasks.count_tasks(db, owner=user.user_id))
