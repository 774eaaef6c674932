from todo_api.core.errors import AppError


class InvalidWindow(AppError):
    status = 400
    detail = "Query parameters are invalid"

    def __init__(self, message: str) -> None:
        super().__init__(extensions={"errors": [{"loc": ["query", "until"], "msg": message}]})
