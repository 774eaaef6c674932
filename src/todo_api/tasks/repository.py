"""Every SQL statement on tasks: owner scoping, prebuilt statements, rows into response bodies.

Statements are SQLAlchemy Core, built once at import (or once per listing shape) and compiled
once per dialect (`core.sql.compile_for`, through `core.connections`); the database returns
each task already as the JSON the API sends (`core.sql.json_object`), so responses pass
through as text.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

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
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate

from todo_api.core.connections import Database
from todo_api.core.sql import json_object, rfc3339
from todo_api.tasks.models import Task
from todo_api.tasks.schemas import TaskCounts, TaskRead

TASKS: Table = Task.__table__  # type: ignore[attr-defined]
_LIKE_ESCAPE = "/"
_SORT_EXPRESSIONS: dict[str, ColumnElement[Any]] = {
    "created_at": TASKS.c.created_at,
    "updated_at": TASKS.c.updated_at,
    "title": func.lower(TASKS.c.title),
}


def _owned(owner: BindParameter[str]) -> ColumnElement[bool]:
    """The condition every task statement starts from: another user's task is no task."""
    return TASKS.c.user_id == owner


# The response body of one task, in TaskRead's field order, written by the database.
TASK_JSON = json_object(
    *(
        (rfc3339(TASKS.c[name]) if name.endswith("_at") else TASKS.c[name]).label(name)
        for name in TaskRead.model_fields
    )
)
# What a statement returns about a task: its body, and what the headers need.
_RETURNED = (TASK_JSON, TASKS.c.id, TASKS.c.version)


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as stored: its response body (JSON text) and the values headers are made of."""

    json: str
    id: int
    version: int

    @classmethod
    def from_json(cls, text: str) -> "StoredTask":
        """A body stored earlier (an idempotent replay), with its headers' values."""
        task = TaskRead.model_validate_json(text)
        return cls(text, task.id, task.version)

    def read(self) -> TaskRead:
        """The task as a model, for the rules that look inside it (rare paths only)."""
        return TaskRead.model_validate_json(self.json)


def _stored(row: Any) -> StoredTask | None:
    return None if row is None else StoredTask(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: the JSON array, the count, and the last row's keyset."""

    json: str
    total: int
    more: bool
    last_sort_value: Any
    last_id: int | None


_INSERT: ReturningInsert[Any] = (
    insert(TASKS)
    .values({column.name: bindparam(column.name) for column in TASKS.c if column.name != "id"})
    .returning(*_RETURNED)
)


async def insert_task(db: Database, *, owner: str, values: dict[str, Any]) -> StoredTask:
    row = await db.fetchrow(_INSERT, {**values, "user_id": owner})
    stored = _stored(row)
    assert stored is not None
    return stored


_FIND = select(*_RETURNED).where(_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id"))


async def find_task(db: Database, *, owner: str, task_id: int) -> StoredTask | None:
    return _stored(await db.fetchrow(_FIND, {"owner": owner, "task_id": task_id}))


_EXISTS = select(TASKS.c.id).where(TASKS.c.id == bindparam("task_id"))


async def exists_for_anyone(db: Database, *, task_id: int) -> bool:
    """Whether any user has this task: for the security log only, never for a response."""
    return await db.fetchval(_EXISTS, {"task_id": task_id}) is not None


def _matching(conditional: bool) -> list[ColumnElement[bool]]:
    # The version check is part of the write's own WHERE clause: of two writers holding the
    # same version, the row lock lets one through and the other finds the version moved on.
    conditions = [_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id")]
    if conditional:
        conditions.append(TASKS.c.version == bindparam("version"))
    return conditions


@lru_cache(maxsize=128)
def _update_statement(
    fields: tuple[str, ...], toggle: bool, conditional: bool
) -> ReturningUpdate[Any]:
    """One UPDATE per set of changed fields; a toggle flips `completed` in the database, so
    concurrent toggles serialise on the row lock instead of racing on a stale read."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in fields}
    if toggle:
        values["completed"] = not_(TASKS.c.completed)
    return (
        update(TASKS)
        .where(*_matching(conditional))
        .values(**values, updated_at=bindparam("now"), version=TASKS.c.version + 1)
        .returning(*_RETURNED)
    )


async def update_task(
    db: Database,
    *,
    owner: str,
    task_id: int,
    values: dict[str, Any],
    now: datetime,
    toggle: bool = False,
    version: int | None = None,
) -> StoredTask | None:
    """Write the changes (only at `version`, when given); None when nothing matched."""
    statement = _update_statement(tuple(sorted(values)), toggle, version is not None)
    params = {f"new_{name}": value for name, value in values.items()}
    params |= {"owner": owner, "task_id": task_id, "now": now, "version": version}
    return _stored(await db.fetchrow(statement, params))


_DELETE: dict[bool, ReturningDelete[Any]] = {
    conditional: delete(TASKS).where(*_matching(conditional)).returning(TASKS.c.id)
    for conditional in (False, True)
}


async def delete_task(db: Database, *, owner: str, task_id: int, version: int | None) -> bool:
    params = {"owner": owner, "task_id": task_id, "version": version}
    return await db.fetchval(_DELETE[version is not None], params) is not None


_COUNTS = select(func.count(), func.count().filter(TASKS.c.completed)).where(
    _owned(bindparam("owner"))
)


async def count_tasks(db: Database, *, owner: str) -> TaskCounts:
    row = await db.fetchrow(_COUNTS, {"owner": owner})
    assert row is not None
    total, done = row[0], row[1]
    return TaskCounts(total=total, completed=done, pending=total - done)


@dataclass(frozen=True, slots=True)
class ListShape:
    """What decides the SQL of a listing; the values travel as bound parameters."""

    sort_key: str
    descending: bool
    completed: bool | None
    searching: bool
    after_cursor: bool
    offset: bool


@lru_cache(maxsize=256)
def _list_statements(shape: ListShape) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements of one listing shape, built once per process."""
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
    page = select(TASK_JSON, key, TASKS.c.id, counted.scalar_subquery()).where(*filters)
    if shape.after_cursor:
        after = tuple_(key, TASKS.c.id)
        last = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id"))
        page = page.where(after < last if shape.descending else after > last)
    ordering = (key.desc(), TASKS.c.id.desc()) if shape.descending else (key, TASKS.c.id)
    page = page.order_by(*ordering).limit(bindparam("limit"))
    if shape.offset:
        page = page.offset(bindparam("offset"))
    return page, counted


def like_literal(text: str) -> str:
    """`text` as a LIKE pattern that matches itself: its wildcards escaped."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


async def list_tasks(db: Database, *, shape: ListShape, params: dict[str, Any], limit: int) -> Page:
    """A page of up to `limit` tasks (one more is read to learn whether more remain)."""
    page, counted = _list_statements(shape)
    rows = await db.fetch(page, {**params, "limit": limit + 1})
    if rows:
        total = rows[0][3]
    elif not shape.after_cursor and not params.get("offset"):
        total = 0
    else:  # past the last page: the count still has to be told
        total = await db.fetchval(counted, params)
    more = len(rows) > limit
    rows = rows[:limit]
    body = "[" + ",".join(row[0] for row in rows) + "]"
    last = rows[-1] if rows else None
    return Page(
        body,
        total,
        more,
        last[1] if last is not None else None,
        last[2] if last is not None else None,
    )
