"""HTTP-level guards: body size before reading, JSON-only bodies, response hygiene headers."""

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.core.errors import AppError, problem_response

MAX_BODY_BYTES = 64 * 1024


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


class GuardMiddleware:
    """Refuses a declared oversized body before routing, and marks every response uncacheable.

    Starlette's own body limit (configured on the app) still counts streamed and chunked
    bodies; this only answers the declared case early and as problem+json.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            response = problem_response(413, "Request body is larger than 64 KiB")
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Task data is private: no shared or browser cache may keep it (RFC 9111).
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)
