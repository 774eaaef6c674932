from pydantic import BaseModel

from todo_api.tasks.schemas import TaskCounts


class Me(BaseModel):
    """The caller as this API sees them."""

    user_id: str
    tasks: TaskCounts
