"""Task routes: parse, call one service function, return a schema."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status

from todo_api.core.auth import CurrentUser
from todo_api.core.config import SettingsDep
from todo_api.core.db import SessionDep
from todo_api.core.errors import UNAUTHENTICATED, problem_responses
from todo_api.core.http import JsonBody
from todo_api.tasks import service
from todo_api.tasks.schemas import CompletionUpdate, TaskCreate, TaskListQuery, TaskRead, TaskUpdate

router = APIRouter(responses=UNAUTHENTICATED)

# Ids outside PostgreSQL's bigint range (or not integers at all) name no task: 404.
TaskId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A task id")]
_NOT_FOUND = problem_responses(404)
_WRITE_ERRORS = problem_responses(404, 413, 415, 422)


@router.get(
    "",
    responses={
        200: {
            "headers": {
                "X-Total-Count": {
                    "description": "Tasks matching the filters",
                    "schema": {"type": "integer"},
                },
                "Link": {
                    "description": 'RFC 8288 `<...>; rel="next"` while more remain',
                    "schema": {"type": "string"},
                },
            }
        },
        **problem_responses(400),
    },
)
async def list_tasks(
    request: Request,
    response: Response,
    query: Annotated[TaskListQuery, Query()],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> list[TaskRead]:
    """List your tasks: filter, search, sort; paging in the Link and X-Total-Count headers."""
    page = await service.list_tasks(
        session, owner=user.user_id, query=query, cursor_key=settings.cursor_key
    )
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor is not None:
        url = request.url.remove_query_params(["cursor", "offset"])
        url = url.include_query_params(
            **(
                {"offset": page.next_offset}
                if query.offset is not None
                else {"cursor": page.next_cursor}
            )
        )
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return page.tasks


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "headers": {
                "Location": {"description": "/api/tasks/{id}", "schema": {"type": "string"}}
            }
        },
        **_WRITE_ERRORS,
    },
)
async def create_task(
    data: TaskCreate, response: Response, user: CurrentUser, session: SessionDep, _: JsonBody
) -> TaskRead:
    """Create a task."""
    task = await service.create_task(session, owner=user.user_id, data=data)
    response.headers["Location"] = f"/api/tasks/{task.id}"
    return task


@router.get("/{task_id}", responses=_NOT_FOUND)
async def get_task(task_id: TaskId, user: CurrentUser, session: SessionDep) -> TaskRead:
    """Read one of your tasks."""
    return await service.get_task(session, owner=user.user_id, task_id=task_id)


@router.put("/{task_id}", responses=_WRITE_ERRORS)
async def replace_task(
    task_id: TaskId, changes: TaskUpdate, user: CurrentUser, session: SessionDep, _: JsonBody
) -> TaskRead:
    """Update a task: fields you omit stay as they are."""
    return await service.update_task(session, owner=user.user_id, task_id=task_id, changes=changes)


@router.patch("/{task_id}", responses=_WRITE_ERRORS)
async def patch_task(
    task_id: TaskId, changes: TaskUpdate, user: CurrentUser, session: SessionDep, _: JsonBody
) -> TaskRead:
    """Update a task: fields you omit stay as they are (same as PUT)."""
    return await service.update_task(session, owner=user.user_id, task_id=task_id, changes=changes)


@router.patch("/{task_id}/complete", responses=_WRITE_ERRORS)
async def complete_task(
    task_id: TaskId,
    user: CurrentUser,
    session: SessionDep,
    _: JsonBody,
    body: Annotated[CompletionUpdate | None, Body()] = None,
) -> TaskRead:
    """Toggle completion atomically, or set it with `{"completed": true|false}`."""
    completed = body.completed if body is not None else None
    return await service.set_completed(
        session, owner=user.user_id, task_id=task_id, completed=completed
    )


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_task(task_id: TaskId, user: CurrentUser, session: SessionDep) -> None:
    """Delete a task."""
    await service.delete_task(session, owner=user.user_id, task_id=task_id)
