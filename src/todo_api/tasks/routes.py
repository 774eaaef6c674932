"""Task routes: parse, call one service function, return a schema."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from todo_api.core import conditional
from todo_api.core.conditional import IfMatch, IfNoneMatch, etag
from todo_api.core.deps import CurrentUser, DatabaseDep, TransactionDep, runtime_of
from todo_api.core.errors import UNAUTHENTICATED, problem_responses
from todo_api.core.http import MAX_BODY_BYTES, JsonBody, JSONText
from todo_api.core.openapi import query_parameters
from todo_api.tasks import service
from todo_api.tasks.repository import StoredTask
from todo_api.tasks.schemas import (
    PAGE_MAX,
    CompletionUpdate,
    TaskCreate,
    TaskListQuery,
    TaskMove,
    TaskRead,
    TaskUpdate,
)

router = APIRouter(responses=UNAUTHENTICATED)
# Routes read the app's runtime (settings, clock) with `runtime_of(request)` instead of
# declaring `RuntimeDep`: on these routes FastAPI's resolution of one more dependency costs
# more than what it resolves (docs/performance.md).
# `max_body_size` sits on the routes that read a body, not on the app or the router: at app
# level Starlette answers an oversized body in plain text before our problem+json handlers
# see it, and on the router it wraps every GET in three more layers for nothing.

# Ids outside PostgreSQL's bigint range (or not integers at all) name no task: 404.
TaskId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A task id")]
_NOT_FOUND = problem_responses(404)
_ETAG = {
    "ETag": {"description": 'The task\'s version, `"<version>"`', "schema": {"type": "string"}}
}
_LOCATION = {"Location": {"description": "/api/tasks/{id}", "schema": {"type": "string"}}}
_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request",
        "schema": {"type": "string"},
    }
}
# OpenAPI links: what a client (or a stateful test) can do next with the created task.
_TASK_LINKS = {
    name: {"operationId": operation, "parameters": {"task_id": "$response.body#/id"}}
    for name, operation in [
        ("GetTask", "get_task"),
        ("ReplaceTask", "replace_task"),
        ("PatchTask", "patch_task"),
        ("CompleteTask", "complete_task"),
        ("MoveTask", "move_task"),
        ("DeleteTask", "delete_task"),
    ]
}
_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": TaskRead, "headers": _ETAG},
    **problem_responses(404, 412, 413, 415, 422),
}
# Every route that changes one task: its JSON text with an ETag, and a body limit.
_CHANGE_ROUTE: dict[str, Any] = {
    "response_model": None,
    "response_class": JSONText,
    "responses": _CHANGE_RESPONSES,
    "max_body_size": MAX_BODY_BYTES,
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=257,
        # 1 to 255 printable ASCII characters, optionally quoted (an RFC 8941 string).
        pattern=r'^"?[\x20-\x7E]{1,255}"?$',
        description="Makes a retried create safe: the same key and body return the first "
        "response (kept 24 hours); a different body is 422; a retry during the first is 409.",
    ),
]


async def list_query(request: Request) -> TaskListQuery:
    """The list's query string, validated by pydantic in one call.

    Not FastAPI's own extraction of a query model (`Annotated[TaskListQuery, Query()]`),
    which inspects every field's type annotation again on every request
    (docs/performance.md). Errors keep FastAPI's shape (400 via the handler); `openapi_extra`
    documents the same parameters from the same model.
    """
    # Of a repeated parameter the last value counts, as with FastAPI.
    params: dict[str, object] = dict(request.query_params)
    if "tag" in params:  # `tag` may repeat: every value counts
        params["tag"] = ",".join(request.query_params.getlist("tag"))
    if "user_id" in request.path_params:
        # The compatibility paths serve frontends that read one array and never follow Link.
        params.setdefault("limit", PAGE_MAX)
    try:
        return TaskListQuery.model_validate(params)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in errors]) from None


ListQuery = Annotated[TaskListQuery, Depends(list_query)]


@router.get(
    "",
    openapi_extra={"parameters": query_parameters(TaskListQuery)},
    response_model=None,
    response_class=JSONText,
    responses={
        200: {
            "model": list[TaskRead],
            "headers": {
                "X-Total-Count": {
                    "description": "Tasks matching the filters",
                    "schema": {"type": "integer"},
                },
                "Link": {
                    "description": 'RFC 8288 `<...>; rel="next"` while more remain',
                    "schema": {"type": "string"},
                },
            },
        },
        **problem_responses(400),
    },
)
async def list_tasks(
    response: Response,
    # Who is asking (401, then the rate limit) before what they ask.
    user: CurrentUser,
    query: ListQuery,
    db: DatabaseDep,
    request: Request,
) -> str:
    """List your tasks: filter, search, sort; paging in the Link and X-Total-Count headers."""
    runtime = runtime_of(request)
    page = await service.list_tasks(
        db,
        owner=user.user_id,
        query=query,
        cursor_key=runtime.settings.cursor_key,
        now=runtime.clock.now(),
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
    return page.json


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    max_body_size=MAX_BODY_BYTES,
    response_model=None,
    response_class=JSONText,
    responses={
        201: {
            "model": TaskRead,
            "headers": {**_LOCATION, **_ETAG, **_REPLAYED},
            "links": _TASK_LINKS,
        },
        **problem_responses(400, 409, 413, 415, 422),
    },
)
async def create_task(
    data: TaskCreate,
    response: Response,
    user: CurrentUser,
    db: TransactionDep,
    request: Request,
    _: JsonBody,
    idempotency_key: IdempotencyKey = None,
) -> str:
    """Create a task. With an Idempotency-Key, a retry returns the first response instead."""
    key = idempotency_key.strip('"') if idempotency_key else None
    created = await service.create_task(
        db, owner=user.user_id, data=data, now=runtime_of(request).clock.now(), idempotency_key=key
    )
    response.headers["Location"] = f"/api/tasks/{created.task.id}"
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _tagged(response, created.task)


@router.get(
    "/{task_id}",
    response_model=None,
    response_class=JSONText,
    responses={
        200: {"model": TaskRead, "headers": _ETAG},
        304: {"description": "Not modified"},
        **_NOT_FOUND,
    },
)
async def get_task(
    task_id: TaskId,
    response: Response,
    user: CurrentUser,
    db: DatabaseDep,
    if_none_match: IfNoneMatch = None,
) -> str | Response:
    """Read one of your tasks; with If-None-Match, 304 while your copy is current."""
    task = await service.get_task(db, owner=user.user_id, task_id=task_id)
    known = conditional.parse(if_none_match)
    if known is not None and known.matches_weakly(task.version):
        return Response(status_code=304, headers={"ETag": etag(task.version)})
    return _tagged(response, task)


async def update_task(
    task_id: TaskId,
    changes: TaskUpdate,
    response: Response,
    user: CurrentUser,
    db: DatabaseDep,
    request: Request,
    _: JsonBody,
    if_match: IfMatch = None,
) -> str:
    """Update a task: fields you omit stay as they are."""
    task = await service.update_task(
        db,
        owner=user.user_id,
        task_id=task_id,
        changes=changes,
        now=runtime_of(request).clock.now(),
        if_match=conditional.parse(if_match),
    )
    return _tagged(response, task)


# PUT and PATCH mean the same here (frontends use both); one handler, two named operations.
for _method, _name in (("PUT", "replace_task"), ("PATCH", "patch_task")):
    router.add_api_route(
        "/{task_id}",
        update_task,
        methods=[_method],
        name=_name,
        **_CHANGE_ROUTE,
    )


@router.patch("/{task_id}/complete", **_CHANGE_ROUTE)
async def complete_task(
    task_id: TaskId,
    response: Response,
    user: CurrentUser,
    db: DatabaseDep,
    request: Request,
    _: JsonBody,
    body: Annotated[CompletionUpdate | None, Body()] = None,
    if_match: IfMatch = None,
) -> str:
    """Toggle completion atomically, or set it with `{"completed": true|false}`."""
    task = await service.set_completed(
        db,
        owner=user.user_id,
        task_id=task_id,
        completed=body.completed if body is not None else None,
        now=runtime_of(request).clock.now(),
        if_match=conditional.parse(if_match),
    )
    return _tagged(response, task)


@router.post("/{task_id}/move", **_CHANGE_ROUTE)
async def move_task(
    task_id: TaskId,
    move: TaskMove,
    response: Response,
    user: CurrentUser,
    db: DatabaseDep,
    request: Request,
    _: JsonBody,
    if_match: IfMatch = None,
) -> str:
    """Place the task before or after another one, or at the top or bottom of the manual
    order (`sort=position`). No other task changes."""
    task = await service.move_task(
        db,
        owner=user.user_id,
        task_id=task_id,
        move=move,
        now=runtime_of(request).clock.now(),
        if_match=conditional.parse(if_match),
    )
    return _tagged(response, task)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_task(
    task_id: TaskId, user: CurrentUser, db: DatabaseDep, if_match: IfMatch = None
) -> None:
    """Delete a task."""
    await service.delete_task(
        db, owner=user.user_id, task_id=task_id, if_match=conditional.parse(if_match)
    )


def _tagged(response: Response, task: StoredTask) -> str:
    response.headers["ETag"] = etag(task.version)
    return task.json
