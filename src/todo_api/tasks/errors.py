from todo_api.core.errors import AppError


class TaskNotFound(AppError):
    # Also what another user's task looks like: existence is never revealed.
    status = 404
    detail = "Task not found"


class InvalidCursor(AppError):
    status = 400
    detail = "The cursor is invalid, or belongs to another query or user"
