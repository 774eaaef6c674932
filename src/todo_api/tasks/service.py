"""Task queries. Every statement is scoped to its owner through `_owned`, once."""

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import ReturningUpdate

from todo_api.core.columns import utcnow
from todo_api.core.conditional import EntityTags
from todo_api.core.errors import AppError
from todo_api.idempotency import service as idempotency
from todo_api.tasks import cursor
from todo_api.tasks.errors import ServerOwnedFieldDiffers, TaskNotFound, VersionMismatch
from todo_api.tasks.models import Task
from todo_api.tasks.schemas import TaskCounts, TaskCreate, TaskListQuery, TaskRead, TaskUpdate
from todo_api.users.service import ensure_user

logger = logging.getLogger("todo_api.security")

TASKS: Table = Task.__table__  # type: ignore[attr-defined]
_TASK_LIST = TypeAdapter(list[TaskRead])
_LIKE_ESCAPE = "/"
_SORT_EXPRESSIONS: dict[str, ColumnElement[Any]] = {
    "created_at": TASKS.c.created_at,
    "updated_at": TASKS.c.updated_at,
    "title": func.lower(TASKS.c.title),
}


def _owned(owner: BindParameter[str]) -> ColumnElement[bool]:
    return TASKS.c.user_id == owner


@dataclass(frozen=True, slots=True)
class Page:
    tasks: list[TaskRead]
    total: int
    next_cursor: str | None
    next_offset: int | None


@dataclass(frozen=True, slots=True)
class Created:
    task: TaskRead
    replayed: bool


async def create_task(
    db: AsyncConnection, *, owner: str, data: TaskCreate, idempotency_key: str | None = None
) -> Created:
    if idempotency_key is None:
        return Created(await _insert(db, owner, data), replayed=False)
    request_print = idempotency.fingerprint(data.model_dump_json())
    replay = await idempotency.claim(db, owner=owner, key=idempotency_key, print_=request_print)
    if replay is not None:
        return Created(TaskRead.model_validate_json(replay.body), replayed=True)
    task = await _insert(db, owner, data)
    await idempotency.remember(
        db,
        owner=owner,
        key=idempotency_key,
        print_=request_print,
        status_code=201,
        body=task.model_dump_json(),
    )
    return Created(task, replayed=False)


_INSERT = insert(TASKS).returning(*TASKS.c)


async def _insert(db: AsyncConnection, owner: str, data: TaskCreate) -> TaskRead:
    await ensure_user(db, owner)
    now = utcnow()
    values = {"user_id": owner, "created_at": now, "updated_at": now, "version": 1}
    row = (await db.execute(_INSERT, data.model_dump() | values)).one()
    return TaskRead.model_validate(row)


async def get_task(db: AsyncConnection, *, owner: str, task_id: int) -> TaskRead:
    task = await _find(db, owner, task_id)
    if task is None:
        raise await _not_found(db, owner, task_id)
    return task


# Single-task statements are built once with bound parameters, as listings are: building a
# SQLAlchemy statement (and its cache key) cost more CPU than running it.
_FIND = select(*TASKS.c).where(_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id"))


async def _find(db: AsyncConnection, owner: str, task_id: int) -> TaskRead | None:
    row = (await db.execute(_FIND, {"owner": owner, "task_id": task_id})).one_or_none()
    return None if row is None else TaskRead.model_validate(row)


async def _not_found(db: AsyncConnection, owner: str, task_id: int) -> TaskNotFound:
    """The 404 every caller gets; a probe of someone else's task is also logged.

    The only unscoped query here: its answer feeds the security log, never the response.
    """
    exists = await db.scalar(select(TASKS.c.id).where(TASKS.c.id == task_id))
    if exists is not None:
        logger.warning(
            "user %s asked for task %s of another user",
            owner,
            task_id,
            extra={"event": "foreign_task", "user_id": owner, "task_id": task_id},
        )
    return TaskNotFound()


async def update_task(
    db: AsyncConnection,
    *,
    owner: str,
    task_id: int,
    changes: TaskUpdate,
    if_match: EntityTags | None = None,
) -> TaskRead:
    echoed = changes.echoed
    for field, stored in (("id", task_id), ("user_id", owner)):
        if field in echoed and echoed[field] != stored:
            raise ServerOwnedFieldDiffers(field)
    if "version" in echoed:
        if_match = _also_matching(if_match, echoed["version"])
    times = [field for field in ("created_at", "updated_at") if field in echoed]
    if times:
        # Compared with the stored task, then the write is pinned to the version compared,
        # so a change in between is a 412, never a write over unchecked values.
        current = await get_task(db, owner=owner, task_id=task_id)
        if if_match is not None and not if_match.matches_strongly(current.version):
            raise VersionMismatch(current)
        for field in times:
            if echoed[field] != getattr(current, field):
                raise ServerOwnedFieldDiffers(field)
        if_match = EntityTags.exactly(current.version)
    return await _change(db, owner, task_id, changes.changes, if_match)


def _also_matching(if_match: EntityTags | None, version: int) -> EntityTags:
    """`version` in a body is an If-Match of its own: both must name the current version."""
    if if_match is None or if_match.any:
        return EntityTags.exactly(version)
    return EntityTags.exactly(version) if version in if_match.strong else EntityTags.none()


async def set_completed(
    db: AsyncConnection,
    *,
    owner: str,
    task_id: int,
    completed: bool | None,
    if_match: EntityTags | None = None,
) -> TaskRead:
    # A toggle is one UPDATE that reads and flips the value inside the database, so
    # concurrent toggles serialise on the row lock instead of racing on a stale read.
    values: dict[str, Any] = {} if completed is None else {"completed": completed}
    return await _change(db, owner, task_id, values, if_match, toggle=completed is None)


def _matching(conditional: bool) -> list[ColumnElement[bool]]:
    # The version check is part of the write's own WHERE clause: of two writers holding the
    # same version, the row lock lets one through and the other finds the version moved on.
    conditions = [_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id")]
    if conditional:
        conditions.append(TASKS.c.version.in_(bindparam("versions", expanding=True)))
    return conditions


def _match_params(owner: str, task_id: int, if_match: EntityTags | None) -> dict[str, Any]:
    params: dict[str, Any] = {"owner": owner, "task_id": task_id}
    if if_match is not None and not if_match.any:
        params["versions"] = sorted(if_match.strong)
    return params


@lru_cache(maxsize=128)
def _update_statement(
    fields: tuple[str, ...], toggle: bool, conditional: bool
) -> ReturningUpdate[Any]:
    """One UPDATE per set of changed fields; a toggle flips `completed` in the database."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in fields}
    if toggle:
        values["completed"] = not_(TASKS.c.completed)
    return (
        update(TASKS)
        .where(*_matching(conditional))
        .values(**values, updated_at=bindparam("now"), version=TASKS.c.version + 1)
        .returning(*TASKS.c)
    )


async def _change(
    db: AsyncConnection,
    owner: str,
    task_id: int,
    values: dict[str, Any],
    if_match: EntityTags | None,
    *,
    toggle: bool = False,
) -> TaskRead:
    params = _match_params(owner, task_id, if_match)
    statement = _update_statement(tuple(sorted(values)), toggle, "versions" in params)
    params |= {f"new_{name}": value for name, value in values.items()}
    row = (await db.execute(statement, params | {"now": utcnow()})).one_or_none()
    if row is None:
        raise await _why_unchanged(db, owner, task_id)
    return TaskRead.model_validate(row)


_DELETE = {
    conditional: delete(TASKS).where(*_matching(conditional)).returning(TASKS.c.id)
    for conditional in (False, True)
}


async def delete_task(
    db: AsyncConnection, *, owner: str, task_id: int, if_match: EntityTags | None = None
) -> None:
    params = _match_params(owner, task_id, if_match)
    if (await db.execute(_DELETE["versions" in params], params)).one_or_none() is None:
        raise await _why_unchanged(db, owner, task_id)


async def _why_unchanged(db: AsyncConnection, owner: str, task_id: int) -> AppError:
    """A conditional write matched nothing: the task is gone (404) or has moved on (412)."""
    current = await _find(db, owner, task_id)
    if current is None:
        return await _not_found(db, owner, task_id)
    return VersionMismatch(current)


_COUNTS = select(func.count(), func.count().filter(TASKS.c.completed)).where(
    _owned(bindparam("owner"))
)


async def count_tasks(db: AsyncConnection, *, owner: str) -> TaskCounts:
    total, done = (await db.execute(_COUNTS, {"owner": owner})).one()
    return TaskCounts(total=total, completed=done, pending=total - done)


@dataclass(frozen=True, slots=True)
class _ListShape:
    """What decides the SQL of a listing; the values travel as bound parameters."""

    sort_key: str
    descending: bool
    completed: bool | None
    searching: bool
    after_cursor: bool
    offset: bool


@lru_cache(maxsize=256)
def _list_statements(shape: _ListShape) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements of one listing shape, built once per process.

    Building a SQLAlchemy statement costs more than running it; listings come in a few
    dozen shapes, so each is built once and reused with new parameters.
    """
    filters = [_owned(bindparam("owner"))]
    if shape.completed is not None:
        filters.append(TASKS.c.completed == shape.completed)
    if shape.searching:
        text: BindParameter[str] = bindparam("q")
        filters.append(
            or_(
                TASKS.c.title.icontains(text, escape=_LIKE_ESCAPE),
                TASKS.c.description.icontains(text, escape=_LIKE_ESCAPE),
            )
        )
    counted = select(func.count()).select_from(TASKS).where(*filters)
    key = _SORT_EXPRESSIONS[shape.sort_key]
    # The total rides along as an uncorrelated subquery (computed once): page and count in
    # one round trip and one snapshot.
    page = select(*TASKS.c, key.label("sort_key"), counted.scalar_subquery().label("total"))
    page = page.where(*filters)
    if shape.after_cursor:
        after = tuple_(key, TASKS.c.id)
        last = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id"))
        page = page.where(after < last if shape.descending else after > last)
    ordering = (key.desc(), TASKS.c.id.desc()) if shape.descending else (key, TASKS.c.id)
    page = page.order_by(*ordering).limit(bindparam("limit"))
    if shape.offset:
        page = page.offset(bindparam("offset"))
    return page, counted


def _like_literal(text: str) -> str:
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


async def list_tasks(
    db: AsyncConnection, *, owner: str, query: TaskListQuery, cursor_key: bytes
) -> Page:
    status = query.effective_status
    sort = query.normalized_sort
    shape = _ListShape(
        sort_key=query.sort_key,
        descending=query.descending,
        completed=None if status == "all" else status == "completed",
        searching=bool(query.q),
        after_cursor=query.cursor is not None,
        offset=query.offset is not None,
    )
    page, counted = _list_statements(shape)
    params: dict[str, Any] = {"owner": owner, "limit": query.limit + 1}
    if query.q:
        params["q"] = _like_literal(query.q)
    if query.cursor is not None:
        value, last_id = cursor.decode(cursor_key, query.cursor, owner=owner, sort=sort)
        params |= {"after_key": value, "after_id": last_id}
    if query.offset is not None:
        params["offset"] = query.offset
    if query.q is not None and "\x00" in query.q:
        # No stored text holds a NUL (PostgreSQL cannot, and input refuses it), so a search
        # for one matches nothing; PostgreSQL would refuse the parameter itself.
        return Page([], 0, None, None)
    result = await db.execute(page, params)
    columns = tuple(result.keys())
    rows = result.all()
    if rows:
        total = rows[0].total
    elif query.cursor is None and not query.offset:
        total = 0
    else:  # past the last page: the count still has to be told
        total = (await db.execute(counted, params)).scalar_one()

    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = next_offset = None
    if more:
        last = rows[-1]
        next_cursor = cursor.encode(
            cursor_key, owner=owner, sort=sort, value=last.sort_key, task_id=last.id
        )
        next_offset = (query.offset or 0) + query.limit if query.offset is not None else None
    # Validated from plain dicts: a quarter of the cost of reading attributes off rows, and
    # zip builds them several times faster than Row._asdict().
    tasks = _TASK_LIST.validate_python([dict(zip(columns, row, strict=True)) for row in rows])
    return Page(tasks, total, next_cursor, next_offset)
