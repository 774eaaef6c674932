"""What a task request means: idempotency, 404 or 412, the echo rules, paging. No SQL here:
every statement is in `tasks.repository`, scoped to its owner there."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from todo_api.core.conditional import MAX_VERSION, EntityTags
from todo_api.core.connections import Database
from todo_api.core.errors import AppError
from todo_api.idempotency import service as idempotency
from todo_api.tasks import cursor, dues, planning
from todo_api.tasks import repository as tasks
from todo_api.tasks.errors import (
    PlanningRuleBroken,
    ServerOwnedFieldDiffers,
    TaskNotFound,
    VersionMismatch,
)
from todo_api.tasks.planning import PLANNED, Plan
from todo_api.tasks.positions import between, top_position
from todo_api.tasks.repository import ListShape, StoredTask
from todo_api.tasks.schemas import TaskCounts, TaskCreate, TaskListQuery, TaskMove, TaskUpdate
from todo_api.users import repository as users
from todo_api.users.service import time_zone

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
    # New tasks go first in the manual order; the user's row stays locked until commit.
    issued, zone_name = await users.claim_top(db, user_id=owner, now=now)
    body = data.model_dump()
    values = planning.stored_values(body)
    values |= planning.apply(
        Plan(), {name: body[name] for name in PLANNED}, zone=dues.zone(zone_name)
    )
    values |= {
        "position": top_position(issued),
        "completed_at": now if data.completed else None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
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


# Echoed server-owned fields that only the stored task can confirm.
_COMPARED_WITH_STORED = ("position", "completed_at", "created_at", "updated_at")


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
    compared = [field for field in _COMPARED_WITH_STORED if field in echoed]
    if compared:
        # Compared with the stored task, then the write is pinned to the version compared,
        # so a change in between is a 412, never a write over unchecked values.
        current = await get_task(db, owner=owner, task_id=task_id)
        if if_match is not None and not if_match.matches_strongly(current.version):
            raise VersionMismatch(current.read())
        stored = current.read()
        for field in compared:
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


# Fields whose change stands alone: written in one statement, no stored state read first.
_INDEPENDENT = frozenset({"title", "description", "completed", "priority", "tags"})


async def _change(
    db: Database,
    owner: str,
    task_id: int,
    changes: dict[str, Any],
    now: datetime,
    if_match: EntityTags | None,
    *,
    toggle: bool = False,
) -> StoredTask:
    version = await _required_version(db, owner, task_id, if_match)
    if _INDEPENDENT.issuperset(changes):
        task = await tasks.update_task(
            db,
            owner=owner,
            task_id=task_id,
            values=planning.stored_values(changes),
            now=now,
            toggle=toggle,
            version=version,
            plain=True,
        )
        if task is not None:
            return task
        # Gone, moved on, or a recurring task that completing advances: decided under a lock.
    return await _replan(db, owner, task_id, changes, now, if_match, toggle=toggle)


async def _replan(
    db: Database,
    owner: str,
    task_id: int,
    changes: dict[str, Any],
    now: datetime,
    if_match: EntityTags | None,
    *,
    toggle: bool,
) -> StoredTask:
    """A change that depends on the stored task (dues, recurrence, reminders, completing a
    recurring task): read under the task's lock, checked, written, in one transaction."""
    async with db.transaction() as tx:
        zone = dues.zone(await time_zone(tx, owner, locked=True))
        state = await tasks.lock_task(tx, owner=owner, task_id=task_id)
        if state is None:
            raise await _not_found(tx, owner, task_id)
        if if_match is not None and not if_match.matches_strongly(state.task.version):
            raise VersionMismatch(state.task.read())
        current = Plan(
            state.completed,
            state.due_date,
            state.due_at,
            state.recurrence,
            state.series_start,
            state.reminders,
        )
        planned = planning.apply(
            current, {name: changes[name] for name in PLANNED if name in changes}, zone=zone
        )
        values = planning.stored_values(
            {name: value for name, value in changes.items() if name not in PLANNED}
        )
        values |= planned
        done = not state.completed if toggle else changes.get("completed", state.completed)
        if done and not state.completed:
            # Off the event loop: dateutil may scan decades for a sparse rule's next date.
            values |= await asyncio.to_thread(planning.complete, planned, zone=zone, now=now)
        elif not done and state.completed:
            values |= {"completed": False, "completed_at": None}
        task = await tasks.update_task(tx, owner=owner, task_id=task_id, values=values, now=now)
        assert task is not None  # the row is locked
        return task


async def move_task(
    db: Database,
    *,
    owner: str,
    task_id: int,
    move: TaskMove,
    now: datetime,
    if_match: EntityTags | None = None,
) -> StoredTask:
    """Give the task a new place in the manual order; no other task changes."""
    async with db.transaction() as tx:
        # One placer per user at a time (creates take the same lock), so no two tasks are
        # ever given the same place.
        if not await users.lock(tx, user_id=owner):
            raise await _not_found(tx, owner, task_id)
        state = await tasks.lock_task(tx, owner=owner, task_id=task_id)
        if state is None:
            raise await _not_found(tx, owner, task_id)
        if if_match is not None and not if_match.matches_strongly(state.task.version):
            raise VersionMismatch(state.task.read())
        position = await _place(tx, owner, task_id, move)
        values = {"position": position}
        task = await tasks.update_task(tx, owner=owner, task_id=task_id, values=values, now=now)
        assert task is not None
        return task


async def _place(db: Database, owner: str, task_id: int, move: TaskMove) -> str:
    if move.to == "top":
        return await _place_top(db, owner)
    if move.to == "bottom":
        last = await tasks.last_position(db, owner=owner, task_id=task_id)
        return between(last, None) if last is not None else await _place_top(db, owner)
    field, neighbour = ("before", move.before) if move.before is not None else ("after", move.after)
    assert neighbour is not None
    if neighbour == task_id:
        raise PlanningRuleBroken(field, "a task cannot be moved next to itself")
    anchor = await tasks.find_position(db, owner=owner, task_id=neighbour)
    if anchor is None:  # missing and someone else's look the same
        raise PlanningRuleBroken(field, "no such task")
    if field == "after":
        following = await tasks.position_after(db, owner=owner, task_id=task_id, position=anchor)
        return between(anchor, following)
    previous = await tasks.position_before(db, owner=owner, task_id=task_id, position=anchor)
    return between(previous, anchor) if previous is not None else await _place_top(db, owner)


async def _place_top(db: Database, owner: str) -> str:
    # Every first place comes from the user's counter: a key derived from the current first
    # one could be the key the next create takes.
    return top_position(await users.take_top(db, user_id=owner))


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


def _day_bounds(query: TaskListQuery, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The instants the listing's day filters stand for, in the owner's time zone."""
    today = dues.today(now, zone)
    bounds: dict[str, Any] = {}
    if query.due == "overdue":
        bounds |= {"now": now, "today_start": dues.day_start(today, zone)}
    elif query.due == "today":
        bounds["due_start"], bounds["due_end"] = dues.days(today, today, zone)
    elif query.due == "upcoming":
        week = (today + timedelta(days=1), today + timedelta(days=7))
        bounds["due_start"], bounds["due_end"] = dues.days(*week, zone)
    if query.due_from is not None:
        bounds["from_start"] = dues.day_start(query.due_from, zone)
    if query.due_to is not None:
        bounds["to_end"] = dues.days(query.due_to, query.due_to, zone)[1]
    return bounds


async def count_tasks(db: Database, *, owner: str, zone_name: str, now: datetime) -> TaskCounts:
    zone = dues.zone(zone_name)
    today = dues.today(now, zone)
    return await tasks.count_tasks(db, owner=owner, now=now, today=dues.days(today, today, zone))


async def list_tasks(
    db: Database, *, owner: str, query: TaskListQuery, cursor_key: bytes, now: datetime
) -> Listing:
    status = query.effective_status
    sort = query.normalized_sort
    params: dict[str, Any] = {"owner": owner}
    after_no_due = False
    if query.cursor is not None:
        value, last_id = cursor.decode(cursor_key, query.cursor, owner=owner, sort=sort)
        params |= {"after_key": value, "after_id": last_id}
        after_no_due = value is None
    tag_keys = query.tag_keys
    shape = ListShape(
        sort_key=query.sort_key,
        descending=query.descending,
        completed=None if status == "all" else status == "completed",
        searching=bool(query.q),
        after_cursor=query.cursor is not None,
        offset=query.offset is not None,
        priorities=query.priorities,
        tagged=bool(tag_keys),
        due=query.due,
        due_from=query.due_from is not None,
        due_to=query.due_to is not None,
        after_no_due=after_no_due,
    )
    if query.q:
        params["q"] = tasks.like_literal(query.q)
    if tag_keys:
        params["tag_keys"] = tag_keys
    if query.due in {"overdue", "today", "upcoming"} or query.due_from or query.due_to:
        params |= _day_bounds(query, dues.zone(await time_zone(db, owner)), now)
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
