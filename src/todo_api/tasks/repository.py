"""Every SQL statement on tasks: owner scoping, prebuilt statements, rows into response bodies.

Statements are SQLAlchemy Core, built once at import (or once per listing shape) and compiled
once per dialect (`core.sql.compile_for`, through `core.connections`); the database returns
each task already as the JSON the API sends (`core.sql.json_object`), so responses pass
through as text.
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate

from todo_api.core.columns import TextList, UTCDateTime
from todo_api.core.connections import Database
from todo_api.core.sql import contains_all, json_object, rfc3339
from todo_api.tasks.models import PRIORITIES, Task
from todo_api.tasks.schemas import TaskCounts, TaskRead

TASKS: Table = Task.__table__  # type: ignore[attr-defined]
_LIKE_ESCAPE = "/"
_SORT_EXPRESSIONS: dict[str, ColumnElement[Any]] = {
    "created_at": TASKS.c.created_at,
    "updated_at": TASKS.c.updated_at,
    "title": func.lower(TASKS.c.title),
    "due": TASKS.c.due_key,
    "priority": TASKS.c.priority,
    "position": TASKS.c.position,
}


def _owned(owner: BindParameter[str]) -> ColumnElement[bool]:
    """The condition every task statement starts from: another user's task is no task."""
    return TASKS.c.user_id == owner


def _wire(name: str) -> ColumnElement[Any]:
    """A column as the API writes it."""
    if name == "priority":
        # Constants in the SQL text, not parameters: the same on every statement.
        ranks = enumerate(PRIORITIES)
        return case(
            *(
                (TASKS.c.priority == literal_column(str(r)), literal_column(f"'{n}'"))
                for r, n in ranks
            )
        )
    if name.endswith("_at"):
        return rfc3339(TASKS.c[name])
    return TASKS.c[name]


# The response body of one task, in TaskRead's field order, written by the database.
TASK_JSON = json_object(*(_wire(name).label(name) for name in TaskRead.model_fields))
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


@dataclass(frozen=True, slots=True)
class PlanState:
    """What the planning rules need to know of a stored task, read under its row lock."""

    task: StoredTask
    completed: bool
    due_date: date | None
    due_at: datetime | None
    recurrence: str | None
    series_start: str | None
    reminders: list[str]
    position: str


_PLAN_COLUMNS = ("completed", "due_date", "due_at", "recurrence", "series_start", "reminders")
_LOCK = (
    select(*_RETURNED, *(TASKS.c[name] for name in _PLAN_COLUMNS), TASKS.c.position)
    .where(_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id"))
    .with_for_update()
)


async def lock_task(db: Database, *, owner: str, task_id: int) -> PlanState | None:
    """The task, locked until the transaction ends: its writer is the only one."""
    row = await db.fetchrow(_LOCK, {"owner": owner, "task_id": task_id})
    if row is None:
        return None
    return PlanState(StoredTask(row[0], row[1], row[2]), *row[3:])


_NEIGHBOUR = select(TASKS.c.position).where(
    _owned(bindparam("owner")), TASKS.c.id == bindparam("task_id")
)


async def find_position(db: Database, *, owner: str, task_id: int) -> str | None:
    position: str | None = await db.fetchval(_NEIGHBOUR, {"owner": owner, "task_id": task_id})
    return position


_OTHERS = (_owned(bindparam("owner")), TASKS.c.id != bindparam("task_id"))
_PREVIOUS = select(func.max(TASKS.c.position)).where(
    *_OTHERS, TASKS.c.position < bindparam("position")
)
_NEXT = select(func.min(TASKS.c.position)).where(*_OTHERS, TASKS.c.position > bindparam("position"))
_LAST = select(func.max(TASKS.c.position)).where(*_OTHERS)


async def position_before(db: Database, *, owner: str, task_id: int, position: str) -> str | None:
    """The place just before `position` among the owner's other tasks (None: it is first)."""
    params = {"owner": owner, "task_id": task_id, "position": position}
    found: str | None = await db.fetchval(_PREVIOUS, params)
    return found


async def position_after(db: Database, *, owner: str, task_id: int, position: str) -> str | None:
    params = {"owner": owner, "task_id": task_id, "position": position}
    found: str | None = await db.fetchval(_NEXT, params)
    return found


async def last_position(db: Database, *, owner: str, task_id: int) -> str | None:
    """The last place among the owner's other tasks."""
    found: str | None = await db.fetchval(_LAST, {"owner": owner, "task_id": task_id})
    return found


_ALL_DAY = select(TASKS.c.id, TASKS.c.due_date).where(
    _owned(bindparam("owner")), TASKS.c.due_date.is_not(None)
)
_SET_DUE_KEY = (
    update(TASKS)
    .where(_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id"))
    .values(due_key=bindparam("key"))
)


async def all_day_dues(db: Database, *, owner: str) -> list[tuple[int, date]]:
    return [(row[0], row[1]) for row in await db.fetch(_ALL_DAY, {"owner": owner})]


async def set_due_key(db: Database, *, owner: str, task_id: int, key: datetime) -> None:
    """Re-place an all-day due for a new time zone: not a change of the task (no version)."""
    await db.execute(_SET_DUE_KEY, {"owner": owner, "task_id": task_id, "key": key})


_DUE_BETWEEN = (
    select(TASKS.c.id, TASKS.c.title, TASKS.c.due_at, TASKS.c.reminders)
    .where(
        _owned(bindparam("owner")),
        TASKS.c.completed == false(),
        TASKS.c.due_at.is_not(None),
        TASKS.c.due_key >= bindparam("start"),
        TASKS.c.due_key < bindparam("end"),
    )
    .order_by(TASKS.c.due_key, TASKS.c.id)
)


async def timed_open_tasks(
    db: Database, *, owner: str, start: datetime, end: datetime
) -> list[tuple[int, str, datetime, list[str]]]:
    """The owner's not-completed tasks with a `due_at` in [start, end), and their reminders."""
    rows = await db.fetch(_DUE_BETWEEN, {"owner": owner, "start": start, "end": end})
    return [(row[0], row[1], row[2], row[3]) for row in rows]


_EXISTS = select(TASKS.c.id).where(TASKS.c.id == bindparam("task_id"))


async def exists_for_anyone(db: Database, *, task_id: int) -> bool:
    """Whether any user has this task: for the security log only, never for a response."""
    return await db.fetchval(_EXISTS, {"task_id": task_id}) is not None


def _overdue() -> ColumnElement[bool]:
    """Not completed and due before now: a timed due before `now`, an all-day due before today
    (`today_start`, 00:00 of the owner's today, is never after `now`)."""
    return and_(
        TASKS.c.completed == false(),
        TASKS.c.due_key < bindparam("now"),
        or_(TASKS.c.due_at.is_not(None), TASKS.c.due_key < bindparam("today_start")),
    )


def _matching(conditional: bool) -> list[ColumnElement[bool]]:
    # The version check is part of the write's own WHERE clause: of two writers holding the
    # same version, the row lock lets one through and the other finds the version moved on.
    conditions = [_owned(bindparam("owner")), TASKS.c.id == bindparam("task_id")]
    if conditional:
        conditions.append(TASKS.c.version == bindparam("version"))
    return conditions


@lru_cache(maxsize=256)
def _update_statement(
    fields: tuple[str, ...], toggle: bool, conditional: bool, plain: bool
) -> ReturningUpdate[Any]:
    """One UPDATE per set of changed fields; a toggle flips `completed` in the database, so
    concurrent toggles serialise on the row lock instead of racing on a stale read.

    `plain`: the write may complete the task, and completing a recurring task advances it,
    which the service computes under a lock: such a task is left alone here (no row).
    """
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in fields}
    conditions = _matching(conditional)
    was_done = TASKS.c.completed
    if toggle:
        values["completed"] = not_(was_done)
        # The typed NULL lets PostgreSQL infer the parameter's type from it.
        values["completed_at"] = case((was_done, cast(null(), UTCDateTime)), else_=bindparam("now"))
    elif "completed" in fields and "completed_at" not in fields:
        done: BindParameter[bool] = bindparam("new_completed")
        values["completed_at"] = case(
            (and_(done, was_done), TASKS.c.completed_at), (done, bindparam("now")), else_=None
        )
    if plain and (toggle or "completed" in fields):
        becomes_done = (
            not_(was_done) if toggle else and_(bindparam("new_completed"), not_(was_done))
        )
        conditions.append(or_(TASKS.c.recurrence.is_(None), not_(becomes_done)))
    return (
        update(TASKS)
        .where(*conditions)
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
    plain: bool = False,
) -> StoredTask | None:
    """Write the changes (only at `version`, when given; with `plain`, only to a task whose
    completion does not advance a recurrence); None when nothing matched."""
    statement = _update_statement(tuple(sorted(values)), toggle, version is not None, plain)
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


_COUNTS = select(
    func.count(),
    func.count().filter(TASKS.c.completed),
    func.count().filter(_overdue()),
    func.count().filter(
        TASKS.c.due_key >= bindparam("today_start"), TASKS.c.due_key < bindparam("today_end")
    ),
).where(_owned(bindparam("owner")))


async def count_tasks(
    db: Database, *, owner: str, now: datetime, today: tuple[datetime, datetime]
) -> TaskCounts:
    """Counts; `today` is the instants [start, end) of the owner's today."""
    params = {"owner": owner, "now": now, "today_start": today[0], "today_end": today[1]}
    row = await db.fetchrow(_COUNTS, params)
    assert row is not None
    total, done, overdue, due_today = row[0], row[1], row[2], row[3]
    return TaskCounts(
        total=total, completed=done, pending=total - done, overdue=overdue, due_today=due_today
    )


@dataclass(frozen=True, slots=True)
class ListShape:
    """What decides the SQL of a listing; the values travel as bound parameters."""

    sort_key: str
    descending: bool
    completed: bool | None
    searching: bool
    after_cursor: bool
    offset: bool
    priorities: tuple[int, ...] | None = None
    tagged: bool = False
    due: str | None = None  # overdue, today, upcoming, none, any
    due_from: bool = False
    due_to: bool = False
    after_no_due: bool = False  # the cursor's row has no due (sort=due)


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
    filters.extend(_planning_filters(shape))
    counted = select(func.count()).select_from(TASKS).where(*filters)
    key = _SORT_EXPRESSIONS[shape.sort_key]
    # The total rides along as an uncorrelated subquery (computed once): page and count in
    # one round trip and one snapshot.
    page = select(TASK_JSON, key, TASKS.c.id, counted.scalar_subquery()).where(*filters)
    if shape.after_cursor:
        page = page.where(_after(shape, key))
    ordering = [key.desc() if shape.descending else key.asc()]
    if shape.sort_key == "due":  # tasks without a due come last in both directions
        ordering = [ordering[0].nulls_last()]
    ordering.append(TASKS.c.id.desc() if shape.descending else TASKS.c.id.asc())
    page = page.order_by(*ordering).limit(bindparam("limit"))
    if shape.offset:
        page = page.offset(bindparam("offset"))
    return page, counted


def _planning_filters(shape: ListShape) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if shape.priorities is not None:
        filters.append(TASKS.c.priority.in_([literal(rank) for rank in shape.priorities]))
    if shape.tagged:
        filters.append(contains_all(TASKS.c.tag_keys, bindparam("tag_keys", type_=TextList())))
    if shape.due == "overdue":
        filters.append(_overdue())
    elif shape.due in {"today", "upcoming"}:
        filters.append(TASKS.c.due_key >= bindparam("due_start"))
        filters.append(TASKS.c.due_key < bindparam("due_end"))
    elif shape.due is not None:
        filters.append(
            TASKS.c.due_key.is_(None) if shape.due == "none" else TASKS.c.due_key.is_not(None)
        )
    if shape.due_from:
        filters.append(TASKS.c.due_key >= bindparam("from_start"))
    if shape.due_to:
        filters.append(TASKS.c.due_key < bindparam("to_end"))
    return filters


def _after(shape: ListShape, key: ColumnElement[Any]) -> ColumnElement[bool]:
    """The keyset condition: rows after the cursor's (sort key, id) in the listing's order."""
    last_id: BindParameter[int] = bindparam("after_id")
    if shape.after_no_due:  # only tasks without a due remain, in id order
        beyond = TASKS.c.id < last_id if shape.descending else TASKS.c.id > last_id
        return and_(key.is_(None), beyond)
    after = tuple_(key, TASKS.c.id)
    last = tuple_(bindparam("after_key", type_=key.type), last_id)
    condition = after < last if shape.descending else after > last
    if shape.sort_key == "due":
        return or_(condition, key.is_(None))
    return condition


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
