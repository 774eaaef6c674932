"""HTTP-level guards: body size before reading, JSON-only bodies, response hygiene headers."""

import logging
import random
import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.core.errors import AppError, problem_response
from todo_api.core.logging import AccessLog

logger = logging.getLogger("todo_api")
ACCESS_LOG = AccessLog()

MAX_BODY_BYTES = 64 * 1024
# A bearer token is a few hundred bytes; 8 KiB is the contract's ceiling for Authorization.
MAX_AUTHORIZATION_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_REQUEST_ID = 128
# Where the rate-limit dependency leaves the caller's remaining budget for every response.
RATE_LIMIT_HEADERS = "rate_limit_headers"


class UnsupportedMediaType(AppError):
    status = 415
    detail = "Request body must be JSON: send Content-Type: application/json"


def _is_json(content_type: str) -> bool:
    mime = content_type.partition(";")[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


async def require_json_body(request: Request) -> None:
    """A non-empty body must be declared as JSON (empty bodies pass, for PATCH .../complete)."""
    if await request.body() and not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType


JsonBody = Annotated[None, Depends(require_json_body)]


class JSONText(JSONResponse):
    """A JSON body that is already text (the database wrote it), sent as it is.

    Routes that return one document its schema with `responses={...: {"model": ...}}`; as a
    JSONResponse, FastAPI documents the body as JSON of that schema.
    """

    def render(self, content: str) -> bytes:
        return content.encode()


class GuardMiddleware:
    """The edge of the application, for every HTTP request.

    Before routing: a request id, and refusals that need no route (headers over their caps,
    a declared body over 64 KiB; the routes that read a body also count chunked ones).
    After: hygiene headers on every response, one access-log line, and a problem+json 500
    for anything unhandled. It sits inside the CORS middleware, so even a 500 carries CORS.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id, refusal = _read_headers(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status: int | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                # Task data is private: no shared or browser cache may keep it (RFC 9111).
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers["X-Request-ID"] = request_id
                for name, value in scope["state"].get(RATE_LIMIT_HEADERS, {}).items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            if refusal is not None:
                await refusal(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            # Nothing useful can follow a started response; otherwise the client gets a 500.
            if status is None:
                await problem_response(500, "Internal server error")(
                    scope, receive, send_with_headers
                )
        finally:
            _log_access(scope, status or 500, started, request_id)


def _read_headers(scope: Scope) -> tuple[str, Response | None]:
    """The request id, and a refusal for headers or a declared body over their caps: one
    pass over the raw headers."""
    total = 0
    too_large = False
    offered: bytes | None = None
    length: bytes | None = None
    # Names arrive in lower case (the ASGI spec requires it); of repeated ones the first counts.
    for name, value in scope["headers"]:
        total += len(name) + len(value)
        if name == b"authorization":
            too_large |= len(value) > MAX_AUTHORIZATION_BYTES
        elif name == b"x-request-id" and offered is None:
            offered = value
        elif name == b"content-length" and length is None:
            length = value
    refusal = None
    if too_large or total > MAX_HEADER_BYTES:
        refusal = problem_response(431, "Request headers are too large")
    # No real length has 20 digits, and int() refuses a few thousand: such values are left
    # to the server, which rejects them itself.
    elif length and len(length) < 20 and length.isdigit() and int(length) > MAX_BODY_BYTES:
        refusal = problem_response(413, "Request body is larger than 64 KiB")
    return _request_id(offered or b""), refusal


def _request_id(offered: bytes) -> str:
    if 0 < len(offered) <= MAX_REQUEST_ID and offered.isascii():
        text = offered.decode("ascii")
        if text.isprintable():
            return text
    # Unique, not secret: a pseudo-random draw is enough, and unlike uuid4 (os.urandom) it
    # costs no system call on every request. `random` reseeds itself in forked children.
    return f"{random.getrandbits(128):032x}"


def _log_access(scope: Scope, status: int, started: float, request_id: str) -> None:
    path = _path_template(scope, status)
    ACCESS_LOG.write(
        method=scope["method"],
        path=path,
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        user_id=scope.get("state", {}).get("user_id"),
        request_id=request_id,
    )


def _path_template(scope: Scope, status: int) -> str:
    """`/api/{user_id}/tasks/{task_id}` rather than ids: aggregable, and no user data."""
    if status == 404 and "route" not in scope:
        return "(unmatched)"  # whatever a scanner asked for stays out of the logs
    params = {str(v): f"{{{k}}}" for k, v in scope.get("path_params", {}).items()}
    return "/".join(params.get(segment, segment) for segment in scope["path"].split("/"))
