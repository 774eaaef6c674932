"""What a task request means: idempotency, 404 or 412, the echo rules, paging. No SQL here:
every statement is in `tasks.repository`, scoped to its owner there."""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from todo_api.core.conditional import MAX_VERSION, EntityTags
from todo_api.core.connections import Database
from todo_api.core.errors import AppError
from todo_api.idempotency import service as idempotency
from todo_api.tasks import cursor
from todo_api.tasks import repository as tasks
from todo_api.tasks.errors import ServerOwnedFieldDiffers, TaskNotFound, VersionMismatch
from todo_api.tasks.repository import ListShape, StoredTask
from todo_api.tasks.schemas import TaskCounts, TaskCreate, TaskListQuery, TaskUpdate
from todo_api.users.service import ensure_user

logger = logging.getLogger("todo_api.security")


@dataclass(frozen=True, slots=True)
class Created:
    task: StoredTask
    replayed: bool


@dataclass(frozen=True, slots=True)
class Listing:
    """A page as the response carries it: the JSON array, the count, the next page's key."""

    json: str
    total: int
    next_cursor: str | None
    next_offset: int | None


async def create_task(
    db: Database,
    *,
    owner: str,
    data: TaskCreate,
    now: datetime,
    idempotency_key: str | None = None,
) -> Created:
    if idempotency_key is None:
        return Created(await _insert(db, owner, data, now), replayed=False)
    request_print = idempotency.fingerprint(data.model_dump_json())
    replay = await idempotency.claim(
        db, owner=owner, key=idempotency_key, print_=request_print, now=now
    )
    if replay is not None:
        stored = StoredTask.from_json(replay.body)
        return Created(stored, replayed=True)
    task = await _insert(db, owner, data, now)
    await idempotency.remember(
        db,
        owner=owner,
        key=idempotency_key,
        print_=request_print,
        status_code=201,
        body=task.json,
        now=now,
    )
    return Created(task, replayed=False)


async def _insert(db: Database, owner: str, data: TaskCreate, now: datetime) -> StoredTask:
    await ensure_user(db, owner, now=now)
    values = {**data.model_dump(), "created_at": now, "updated_at": now, "version": 1}
    return await tasks.insert_task(db, owner=owner, values=values)


async def get_task(db: Database, *, owner: str, task_id: int) -> StoredTask:
    task = await tasks.find_task(db, owner=owner, task_id=task_id)
    if task is None:
        raise await _not_found(db, owner, task_id)
    return task


async def _not_found(db: Database, owner: str, task_id: int) -> TaskNotFound:
    """The 404 every caller gets; a probe of someone else's task is also logged."""
    if await tasks.exists_for_anyone(db, task_id=task_id):
        logger.warning(
            "user %s asked for task %s of another user",
            owner,
            task_id,
            extra={"event": "foreign_task", "user_id": owner, "task_id": task_id},
        )
    return TaskNotFound()


async def update_task(
    db: Database,
    *,
    owner: str,
    task_id: int,
    changes: TaskUpdate,
    now: datetime,
    if_match: EntityTags | None = None,
) -> StoredTask:
    echoed = changes.echoed
    for field, value in (("id", task_id), ("user_id", owner)):
        if field in echoed and echoed[field] != value:
            raise ServerOwnedFieldDiffers(field)
    if "version" in echoed:
        if_match = _also_matching(if_match, echoed["version"])
    times = [field for field in ("created_at", "updated_at") if field in echoed]
    if times:
        # Compared with the stored task, then the write is pinned to the version compared,
        # so a change in between is a 412, never a write over unchecked values.
        current = await get_task(db, owner=owner, task_id=task_id)
        if if_match is not None and not if_match.matches_strongly(current.version):
            raise VersionMismatch(current.read())
        stored = current.read()
        for field in times:
            if echoed[field] != getattr(stored, field):
                raise ServerOwnedFieldDiffers(field)
        if_match = EntityTags.exactly(current.version)
    return await _change(db, owner, task_id, changes.changes, now, if_match)


def _also_matching(if_match: EntityTags | None, version: int) -> EntityTags:
    """`version` in a body is an If-Match of its own: both must name the current version."""
    if not 1 <= version <= MAX_VERSION:  # no stored task has it
        return EntityTags.none()
    if if_match is None or if_match.any:
        return EntityTags.exactly(version)
    return EntityTags.exactly(version) if version in if_match.strong else EntityTags.none()


async def set_completed(
    db: Database,
    *,
    owner: str,
    task_id: int,
    completed: bool | None,
    now: datetime,
    if_match: EntityTags | None = None,
) -> StoredTask:
    """Set completion, or toggle it (`completed` None) atomically in the database."""
    values: dict[str, Any] = {} if completed is None else {"completed": completed}
    return await _change(db, owner, task_id, values, now, if_match, toggle=completed is None)


async def _change(
    db: Database,
    owner: str,
    task_id: int,
    values: dict[str, Any],
    now: datetime,
    if_match: EntityTags | None,
    *,
    toggle: bool = False,
) -> StoredTask:
    version = await _required_version(db, owner, task_id, if_match)
    task = await tasks.update_task(
        db, owner=owner, task_id=task_id, values=values, now=now, toggle=toggle, version=version
    )
    if task is None:
        raise await _why_unchanged(db, owner, task_id)
    return task


async def delete_task(
    db: Database, *, owner: str, task_id: int, if_match: EntityTags | None = None
) -> None:
    version = await _required_version(db, owner, task_id, if_match)
    if not await tasks.delete_task(db, owner=owner, task_id=task_id, version=version):
        raise await _why_unchanged(db, owner, task_id)


async def _required_version(
    db: Database, owner: str, task_id: int, if_match: EntityTags | None
) -> int | None:
    """The version a conditional write must find (None: any). An If-Match naming one version
    is checked by the write itself; one naming several is resolved against the stored task."""
    if if_match is None or if_match.any:
        return None
    if len(if_match.strong) == 1:
        return next(iter(if_match.strong))
    current = await get_task(db, owner=owner, task_id=task_id)
    if current.version not in if_match.strong:
        raise VersionMismatch(current.read())
    return current.version


async def _why_unchanged(db: Database, owner: str, task_id: int) -> AppError:
    """A conditional write matched nothing: the task is gone (404) or has moved on (412)."""
    current = await tasks.find_task(db, owner=owner, task_id=task_id)
    if current is None:
        return await _not_found(db, owner, task_id)
    return VersionMismatch(current.read())


async def count_tasks(db: Database, *, owner: str) -> TaskCounts:
    return await tasks.count_tasks(db, owner=owner)


async def list_tasks(
    db: Database, *, owner: str, query: TaskListQuery, cursor_key: bytes
) -> Listing:
    status = query.effective_status
    sort = query.normalized_sort
    shape = ListShape(
        sort_key=query.sort_key,
        descending=query.descending,
        completed=None if status == "all" else status == "completed",
        searching=bool(query.q),
        after_cursor=query.cursor is not None,
        offset=query.offset is not None,
    )
    params: dict[str, Any] = {"owner": owner}
    if query.q:
        params["q"] = tasks.like_literal(query.q)
    if query.cursor is not None:
        value, last_id = cursor.decode(cursor_key, query.cursor, owner=owner, sort=sort)
        params |= {"after_key": value, "after_id": last_id}
    if query.offset is not None:
        params["offset"] = query.offset
    if query.q is not None and "\x00" in query.q:
        # No stored text holds a NUL (PostgreSQL cannot, and input refuses it), so a search
        # for one matches nothing; PostgreSQL would refuse the parameter itself.
        return Listing("[]", 0, None, None)
    page = await tasks.list_tasks(db, shape=shape, params=params, limit=query.limit)
    if not page.more or page.last_id is None:
        return Listing(page.json, page.total, None, None)
    next_cursor = cursor.encode(
        cursor_key, owner=owner, sort=sort, value=page.last_sort_value, task_id=page.last_id
    )
    next_offset = query.offset + query.limit if query.offset is not None else None
    return Listing(page.json, page.total, next_cursor, next_offset)
