from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from todo_api.tasks.schemas import DueAt


class Reminder(BaseModel):
    task_id: int
    title: str
    due_at: datetime
    remind_at: datetime


class ReminderQuery(BaseModel):
    """The window [from, until): RFC 3339 times with an offset, at most 31 days apart."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    start: Annotated[
        DueAt | None,
        Field(alias="from", description="Default: now.", examples=["2026-03-22T09:00:00Z"]),
    ] = None
    until: Annotated[
        DueAt | None,
        Field(
            description="Default: 24 hours after `from`. After `from` and at most 31 days "
            "after it, else 400.",
            examples=["2026-03-23T09:00:00Z"],
        ),
    ] = None
