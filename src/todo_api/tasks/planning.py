"""The planning rules: what a change to dues, recurrence and reminders means for the stored
task, and what completing a recurring task does. Pure functions; the service supplies the
stored state (read under the task's lock) and writes what they return."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from todo_api.tasks import recurrence
from todo_api.tasks.dues import due_key
from todo_api.tasks.errors import PlanningRuleBroken
from todo_api.tasks.models import PRIORITIES

# The columns the planning rules decide together.
PLANNED = ("due_date", "due_at", "recurrence", "reminders")


@dataclass(frozen=True, slots=True)
class Plan:
    """A task's planning state: what is stored, or what a create starts from."""

    completed: bool = False
    due_date: date | None = None
    due_at: datetime | None = None
    recurrence: str | None = None
    series_start: str | None = None
    reminders: list[str] = field(default_factory=list)


def stored_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Body fields as columns: a priority's rank, tags with their matching keys."""
    values = dict(changes)
    if "priority" in values:
        values["priority"] = PRIORITIES.index(values["priority"])
    if "tags" in values:
        values["tag_keys"] = [tag.casefold() for tag in values["tags"]]
    return values


def apply(current: Plan, changes: dict[str, Any], *, zone: ZoneInfo) -> dict[str, Any]:
    """The planning columns after `changes` (body fields, dues set by name), checked together.

    Setting one due clears the other. A series restarts from the due when the due or the rule
    actually changes (a client sending back the task it read restarts nothing).
    """
    due_date = changes.get("due_date", current.due_date)
    due_at = changes.get("due_at", current.due_at)
    if changes.get("due_date") is not None:
        due_at = None
    elif changes.get("due_at") is not None:
        due_date = None
    rule = changes.get("recurrence", current.recurrence)
    reminders = changes.get("reminders", current.reminders)
    due_fields = [name for name in ("due_date", "due_at") if name in changes]
    blame = due_fields[0] if due_fields else None

    if rule is not None and due_date is None and due_at is None:
        raise _broken(
            "recurrence",
            changes,
            blame,
            "a recurrence needs a due_date or due_at (send recurrence: null to remove both)",
        )
    if reminders and due_at is None:
        raise _broken(
            "reminders", changes, blame, "reminders need a due_at (send reminders: [] too)"
        )
    until_is_date = None if rule is None else recurrence.until_is_date(rule)
    if until_is_date is not None and until_is_date != (due_date is not None):
        form = "a date (YYYYMMDD)" if due_date is not None else "a UTC time (YYYYMMDDTHHMMSSZ)"
        raise _broken("recurrence", changes, blame, f"UNTIL must be {form} for this due")

    restarted = rule != current.recurrence or (due_date, due_at) != (
        current.due_date,
        current.due_at,
    )
    series_start = current.series_start
    if rule is None:
        series_start = None
    elif restarted or series_start is None:
        series_start = (due_date or due_at).isoformat()  # type: ignore[union-attr]
    return {
        "due_date": due_date,
        "due_at": due_at,
        "due_key": due_key(due_date, due_at, zone),
        "recurrence": rule,
        "series_start": series_start,
        "reminders": reminders,
    }


def _broken(field: str, changes: dict[str, Any], blame: str | None, message: str) -> Exception:
    # Name the field the body sent: the rule it set, or else the due it changed.
    if field not in changes and blame is not None:
        return PlanningRuleBroken(blame, message)
    return PlanningRuleBroken(field, message)


def complete(planned: dict[str, Any], *, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """Completing a task: a recurring one moves to its next occurrence and stays open; one
    without a recurrence, or past its series' last occurrence, is completed."""
    rule = planned["recurrence"]
    if rule is not None:
        start = planned["series_start"]
        timed = planned["due_at"] is not None
        following = recurrence.next_due(
            rule,
            start=datetime.fromisoformat(start) if timed else date.fromisoformat(start),
            current=planned["due_at"] if timed else planned["due_date"],
            zone=zone,
        )
        if following is not None:
            due_date, due_at = (None, following) if timed else (following, None)
            return {
                "due_date": due_date,
                "due_at": due_at,
                "due_key": due_key(due_date, due_at, zone),  # type: ignore[arg-type]
                "completed": False,
                "completed_at": None,
            }
    return {"completed": True, "completed_at": now}
