"""Typed errors and the one place that renders every error as RFC 9457 problem+json."""

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc
from starlette.exceptions import HTTPException
from starlette.routing import Match

from todo_api.core.db import DRIVER_ERRORS, is_unavailable

logger = logging.getLogger("todo_api")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "2"


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str


def _optional_list(schema: dict[str, Any]) -> None:
    # Left out of the body unless there are errors: optional, never null, to a typed client.
    schema.pop("default")
    schema.update(schema.pop("anyOf")[0])


class Problem(BaseModel):
    """An RFC 9457 problem document. Extension members (section 3.2) may follow, such as the
    current task on a 412."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["Task not found"])
    errors: list[ValidationIssue] | None = Field(
        default=None,
        description="Present on 400/422 validation errors: which input, and why.",
        json_schema_extra=_optional_list,
    )


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RESPONSE_DESCRIPTIONS = {
    400: "Invalid query parameter or cursor",
    401: "Missing or invalid bearer token",
    403: "The path's user id is not the token's",
    404: "No such task (or it is another user's)",
    409: "A request with the same Idempotency-Key is still running",
    412: "If-Match names an older version; the current task is in `task`",
    413: "Body larger than 64 KiB",
    415: "Body is not JSON",
    422: "Body is not a valid request",
    429: "Rate limited; see Retry-After and RateLimit",
    503: "Database or key set unavailable; see Retry-After",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all problem+json."""
    return {
        status: {
            "description": _RESPONSE_DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
        for status in statuses
    }


# What any authenticated route can answer besides its own outcomes.
UNAUTHENTICATED = problem_responses(401, 429, 503)


class AppError(Exception):
    """A domain error; subclasses set the status and a default detail."""

    status: ClassVar[int] = 400
    detail: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ):
        super().__init__(detail or self.detail)
        self.message = detail or self.detail
        self.headers = headers or {}
        # RFC 9457 extension members, e.g. the current task on a 412.
        self.extensions = extensions or {}


class ServiceUnavailable(AppError):
    status = 503
    detail = "A service the API depends on is unavailable; retry shortly"


def problem_response(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **(extensions or {}),
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _unavailable_response() -> JSONResponse:
    return problem_response(
        503,
        "The database is unavailable; retry shortly",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _app_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AppError)
    headers = dict(error.headers)
    if error.status == 503:
        headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    return problem_response(
        error.status, error.message, headers=headers, extensions=error.extensions
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status == 400 and error.detail == _FASTAPI_UNPARSABLE_BODY:
        # Bytes that are not UTF-8 never reach the JSON parser; to a client it is the same
        # mistake as malformed JSON, which FastAPI (and the contract) answers with 422.
        return problem_response(
            422,
            "Request body is invalid",
            errors=[{"loc": ["body"], "msg": "JSON decode error: the body is not UTF-8"}],
        )
    detail = error.detail if error.detail != HTTPStatus(status).phrase else _DETAILS.get(status)
    headers = dict(error.headers) if error.headers else {}
    if status == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(status, detail or HTTPStatus(status).phrase, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow names only the first route that matched the path; RFC 9110
    # section 15.5.6 wants every method the resource supports.
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


_FASTAPI_UNPARSABLE_BODY = "There was an error parsing the body"
_DETAILS = {
    404: "No such resource",
    405: "Method not allowed on this resource; see the Allow header",
    413: "Request body is larger than 64 KiB",
}


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    issues = [
        {"loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]], "msg": e["msg"]}
        for e in error.errors()
    ]
    where = {e["loc"][0] for e in error.errors() if e["loc"]}
    # An id that cannot be a task id names no task: 404, as for anyone else's task.
    if "path" in where:
        return problem_response(404, "Task not found")
    if where <= {"query", "header"}:
        return problem_response(400, "Invalid query parameter", errors=issues)
    return problem_response(422, "Request body is invalid", errors=issues)


async def _database_error(_request: Request, error: Exception) -> JSONResponse:
    if is_unavailable(error):
        logger.warning("database unavailable: %s: %s", type(error).__name__, error)
        return _unavailable_response()
    logger.error("database error", exc_info=error)
    return _internal_error()


async def _unexpected_error(_request: Request, _error: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware logs the traceback; the client only learns it failed.
    return _internal_error()


def _internal_error() -> JSONResponse:
    return problem_response(500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Connection failures surface as asyncpg's own errors (statements on the driver
    # connection), SQLAlchemy's (SQLite), or a raw OSError/TimeoutError on connect.
    for error_type in (exc.DBAPIError, exc.TimeoutError, OSError, *DRIVER_ERRORS):
        app.add_exception_handler(error_type, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
