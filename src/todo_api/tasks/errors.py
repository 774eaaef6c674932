from todo_api.core.conditional import etag
from todo_api.core.errors import AppError
from todo_api.tasks.schemas import TaskRead


class TaskNotFound(AppError):
    # Also what another user's task looks like: existence is never revealed.
    status = 404
    detail = "Task not found"


class VersionMismatch(AppError):
    status = 412
    detail = "The task changed since that version; the current one is in `task`"

    def __init__(self, current: TaskRead) -> None:
        super().__init__(
            headers={"ETag": etag(current.version)},
            extensions={"task": current.model_dump(mode="json")},
        )


class InvalidCursor(AppError):
    status = 400
    detail = "The cursor is invalid, or belongs to another query or user"


class ServerOwnedFieldDiffers(AppError):
    """A task sent back whole with a server-owned field that is not the stored value."""

    status = 422
    detail = "Request body is invalid"

    def __init__(self, field: str) -> None:
        message = "is set by the server: send the stored value or leave it out"
        super().__init__(extensions={"errors": [{"loc": ["body", field], "msg": message}]})


class PlanningRuleBroken(AppError):
    """A body that is valid on its own but breaks a rule once applied to the stored task
    (a recurrence without a due, reminders without a due time, a neighbour that is no task)."""

    status = 422
    detail = "Request body is invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(extensions={"errors": [{"loc": ["body", field], "msg": message}]})
