from typing import Annotated

from fastapi import APIRouter, Query, Request

from todo_api.core.deps import CurrentUser, DatabaseDep, runtime_of
from todo_api.core.errors import UNAUTHENTICATED, problem_responses
from todo_api.reminders import service
from todo_api.reminders.schemas import Reminder, ReminderQuery

router = APIRouter(tags=["reminders"], responses=UNAUTHENTICATED)


@router.get("/reminders", responses=problem_responses(400))
async def list_reminders(
    query: Annotated[ReminderQuery, Query()], user: CurrentUser, db: DatabaseDep, request: Request
) -> list[Reminder]:
    """Reminders of your not-completed tasks that fall in [from, until), earliest first."""
    start, until = service.window(query.start, query.until, runtime_of(request).clock.now())
    return await service.due_reminders(db, owner=user.user_id, start=start, until=until)
