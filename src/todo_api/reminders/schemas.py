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

    start: Annotated[DueAt | None, Field(alias="from", description="Default: now.")] = None
    until: Annotated[DueAt | None, Field(description="Default: 24 hours after `from`.")] = None
