"""Which reminders fall in a window: each reminder of a not-completed task with a `due_at` is
an instant, `due_at` minus its offset."""

from datetime import datetime, timedelta

from pydantic import TypeAdapter

from todo_api.core.connections import Database
from todo_api.reminders.errors import InvalidWindow
from todo_api.reminders.schemas import Reminder
from todo_api.tasks import repository as tasks
from todo_api.tasks.dues import LAST_INSTANT
from todo_api.tasks.schemas import REMINDER_MAX

WINDOW_DEFAULT = timedelta(hours=24)
WINDOW_MAX = timedelta(days=31)
_OFFSET = TypeAdapter(timedelta)


def _later(moment: datetime, span: timedelta) -> datetime:
    """`span` after `moment`, or the last instant there is (a window near year 9999)."""
    try:
        return moment + span
    except OverflowError:
        return LAST_INSTANT


def window(
    start: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    start = start if start is not None else now
    until = until if until is not None else _later(start, WINDOW_DEFAULT)
    if until <= start:
        raise InvalidWindow("must be after from")
    if until - start > WINDOW_MAX:
        raise InvalidWindow("must be at most 31 days after from")
    return start, until


async def due_reminders(
    db: Database, *, owner: str, start: datetime, until: datetime
) -> list[Reminder]:
    """Reminders in [start, until), by time then task id. A task due up to the longest
    reminder offset after the window can remind within it."""
    found = []
    end = _later(until, REMINDER_MAX)
    rows = await tasks.timed_open_tasks(db, owner=owner, start=start, end=end)
    for task_id, title, due_at, offsets in rows:
        for offset in offsets:
            remind_at = due_at - _OFFSET.validate_python(offset)
            if start <= remind_at < until:
                found.append(
                    Reminder(task_id=task_id, title=title, due_at=due_at, remind_at=remind_at)
                )
    found.sort(key=lambda reminder: (reminder.remind_at, reminder.task_id))
    return found
