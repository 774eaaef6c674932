"""The floor: the least a Python server can do for the benchmark's workload.

Raw ASGI (no framework), asyncpg, PyJWT, served by uvicorn with uvloop and httptools, like the
API. It runs the same SQL as the API and checks the token the same way (HS256 signature, `exp`
required, 30 s leeway, user id from `sub`), so the API's numbers read as a ratio to what the same
work costs with nothing around it. It serves only what the benchmark sends:

    GET   /health, /ready
    GET   /api/tasks                 ?limit=1..200 (default 50) &cursor=..., X-Total-Count, Link
    POST  /api/tasks                 {title, description?, completed?}  (users upsert + insert)
    GET   /api/tasks/{id}
    PATCH /api/tasks/{id}/complete   toggles with one UPDATE ... RETURNING

Run by the harness as `python -m bench.floor --port P --workers N`, configured by environment:
DATABASE_URL, BETTER_AUTH_SECRET, FLOOR_POOL_MIN, FLOOR_POOL_MAX, FLOOR_POOL_TIMEOUT.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg  # type: ignore[import-untyped]
import jwt
import uvicorn

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def _time(column: str) -> str:
    """A UTC time as the API writes it: microseconds unless they are zero, and `Z`."""
    utc = f"{column} AT TIME ZONE 'UTC'"
    return (
        f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN date_trunc('second', """
        f"{column}) = {column} THEN '' ELSE to_char({utc}, '.US') END || 'Z'"
    )


# The task as the response body, built by PostgreSQL: the API's own SQL for the same work.
TASK_JSON = (
    "(SELECT row_to_json(j)::text FROM (SELECT tasks.id AS id, tasks.user_id AS user_id, "  # noqa: S608
    "tasks.title AS title, tasks.description AS description, tasks.completed AS completed, "
    f"{_time('tasks.created_at')} AS created_at, {_time('tasks.updated_at')} AS updated_at, "
    "tasks.version AS version) AS j)"
)
RETURNED = f"{TASK_JSON}, tasks.id, tasks.version"
COUNT = "SELECT count(*) FROM tasks WHERE user_id = $1"
# Page and total in one statement and one snapshot, as the API reads them.
FIRST_PAGE = (
    f"SELECT {TASK_JSON}, tasks.created_at, tasks.id, ({COUNT}) FROM tasks "  # noqa: S608
    "WHERE tasks.user_id = $1 ORDER BY tasks.created_at DESC, tasks.id DESC LIMIT $2"
)
NEXT_PAGE = (
    f"SELECT {TASK_JSON}, tasks.created_at, tasks.id, ({COUNT}) FROM tasks "  # noqa: S608
    "WHERE tasks.user_id = $1 AND (tasks.created_at, tasks.id) < ($2, $3) "
    "ORDER BY tasks.created_at DESC, tasks.id DESC LIMIT $4"
)
GET_ONE = f"SELECT {RETURNED} FROM tasks WHERE tasks.user_id = $1 AND tasks.id = $2"  # noqa: S608
UPSERT_USER = "INSERT INTO users (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"
INSERT_TASK = (
    "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at, version) "  # noqa: S608
    f"VALUES ($1, $2, $3, $4, $5, $5, 1) RETURNING {RETURNED}"
)
TOGGLE = (
    "UPDATE tasks SET completed = NOT completed, updated_at = $3, version = version + 1 "  # noqa: S608
    f"WHERE tasks.user_id = $1 AND tasks.id = $2 RETURNING {RETURNED}"
)
MAX_ID = 2**63 - 1
VERIFIED_CACHE_SIZE = 10_000
MAX_BODY_BYTES = 64 * 1024
_JSON = (b"content-type", b"application/json")


# Status, body (JSON text; None for none) and headers.
Answer = tuple[int, str | None, Headers]


def _detail(text: str) -> str:
    return json.dumps({"detail": text}, separators=(",", ":"))


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Floor:
    """The ASGI application; one instance per worker process, its pool made at start-up."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.secret = b""
        self.cursor_key = b""
        self.acquire_timeout = 3.0
        # Verified tokens until they expire, as the API keeps them: a client sends the same
        # token for its whole life.
        self.verified: dict[bytes, tuple[str, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body, headers = await self._route(scope, receive)
        except HttpError as error:
            status, body, headers = error.status, _detail(error.detail), []
        except TimeoutError:
            # Like the API's pool timeout: no connection within the wait is a 503.
            status, body, headers = 503, _detail("database pool exhausted"), []
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            status, body, headers = 503, _detail("database unavailable"), []
        payload = b"" if body is None else body.encode()
        start_headers: Headers = [(b"content-length", str(len(payload)).encode()), *headers]
        if body is not None:
            start_headers.append(_JSON)
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                secret = os.environ["BETTER_AUTH_SECRET"]
                self.secret = secret.encode()
                self.cursor_key = hashlib.sha256(b"floor cursor\0" + self.secret).digest()
                self.acquire_timeout = float(os.environ.get("FLOOR_POOL_TIMEOUT", "3"))
                self.pool = await asyncpg.create_pool(
                    _asyncpg_dsn(os.environ["DATABASE_URL"]),
                    min_size=int(os.environ.get("FLOOR_POOL_MIN", "15")),
                    max_size=int(os.environ.get("FLOOR_POOL_MAX", "15")),
                    # Like the API's: nothing to reset, so no reset query on every release.
                    reset=_nothing_to_reset,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive) -> Answer:
        method: str = scope["method"]
        parts = scope["path"].strip("/").split("/")
        if parts == ["health"]:
            return 200, '{"status":"ok"}', []
        if parts == ["ready"]:
            async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
                await connection.fetchval("SELECT 1")
            return 200, '{"status":"ready"}', []
        if parts[:2] != ["api", "tasks"] or len(parts) > 4:
            raise HttpError(404, "Not Found")
        owner = self._authenticate(scope)
        if len(parts) == 2 and method == "GET":
            return await self._list(owner, scope)
        if len(parts) == 2 and method == "POST":
            return await self._create(owner, await _read_json(receive))
        task_id = _task_id(parts[2])
        if len(parts) == 3 and method == "GET":
            return await self._one(GET_ONE, owner, task_id)
        if len(parts) == 4 and parts[3] == "complete" and method == "PATCH":
            return await self._one(TOGGLE, owner, task_id, datetime.now(UTC))
        raise HttpError(405, "Method Not Allowed")

    def _authenticate(self, scope: Scope) -> str:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None or not header.startswith(b"Bearer "):
            raise HttpError(401, "Authorization: Bearer <token> is required")
        token = header[7:]
        cached = self.verified.get(token)
        if cached is not None and time.time() <= cached[1]:
            return cached[0]
        try:
            claims = jwt.decode(
                token.decode(),
                self.secret,
                algorithms=["HS256"],
                leeway=30,
                options={"require": ["exp"]},
            )
        except (jwt.InvalidTokenError, UnicodeDecodeError):
            raise HttpError(401, "Token is invalid") from None
        user_id = claims.get("sub")
        if not isinstance(user_id, str) or not user_id or len(user_id) > 255:
            raise HttpError(401, "Token carries no valid user id")
        if len(self.verified) >= VERIFIED_CACHE_SIZE:
            del self.verified[next(iter(self.verified))]
        self.verified[token] = (user_id, float(claims["exp"]) + 30)
        return user_id

    async def _list(self, owner: str, scope: Scope) -> Answer:
        query = parse_qs(scope["query_string"].decode())
        try:
            limit = int(query.get("limit", ["50"])[0])
        except ValueError:
            raise HttpError(400, "limit must be an integer") from None
        if not 1 <= limit <= 200:
            raise HttpError(400, "limit must be 1 to 200")
        cursor = query.get("cursor", [None])[0]
        async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
            if cursor is None:
                rows = await connection.fetch(FIRST_PAGE, owner, limit + 1)
            else:
                after, last_id = self._decode_cursor(owner, cursor)
                rows = await connection.fetch(NEXT_PAGE, owner, after, last_id, limit + 1)
            # Past the last page no row carries the total.
            total = rows[0][3] if rows else await connection.fetchval(COUNT, owner)
        headers: Headers = [(b"x-total-count", str(total).encode())]
        if len(rows) > limit:
            rows = rows[:limit]
            token = self._encode_cursor(owner, rows[-1][1], rows[-1][2])
            link = f'</api/tasks?limit={limit}&cursor={token}>; rel="next"'
            headers.append((b"link", link.encode()))
        return 200, "[" + ",".join(row[0] for row in rows) + "]", headers

    async def _create(self, owner: str, data: Any) -> Answer:
        title, description, completed = _task_fields(data)
        now = datetime.now(UTC)
        async with (
            self.pool.acquire(timeout=self.acquire_timeout) as connection,
            connection.transaction(),
        ):
            await connection.execute(UPSERT_USER, owner, now)
            row = await connection.fetchrow(INSERT_TASK, owner, title, description, completed, now)
        return 201, row[0], [(b"location", f"/api/tasks/{row[1]}".encode())]

    async def _one(self, sql: str, owner: str, *arguments: Any) -> Answer:
        async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
            row = await connection.fetchrow(sql, owner, *arguments)
        if row is None:
            raise HttpError(404, "Task not found")
        return 200, row[0], []

    def _encode_cursor(self, owner: str, created_at: datetime, task_id: int) -> str:
        body = f"{created_at.isoformat()}|{task_id}".encode()
        mac = hmac.new(self.cursor_key, owner.encode() + b"\0" + body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16] + body).rstrip(b"=").decode()

    def _decode_cursor(self, owner: str, cursor: str) -> tuple[datetime, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            mac, body = raw[:16], raw[16:]
            expected = hmac.new(self.cursor_key, owner.encode() + b"\0" + body, hashlib.sha256)
            if not hmac.compare_digest(mac, expected.digest()[:16]):
                raise ValueError("bad mac")
            created_at, _, task_id = body.decode().partition("|")
            return datetime.fromisoformat(created_at), int(task_id)
        except (binascii.Error, ValueError):
            raise HttpError(400, "Invalid cursor") from None


async def _nothing_to_reset(_connection: Any) -> None:
    return None


def _task_id(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise HttpError(404, "Task not found")
    return int(text)


async def _read_json(receive: Receive) -> Any:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpError(413, "Request body is larger than 64 KiB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise HttpError(422, "Body is not JSON") from None


def _task_fields(data: Any) -> tuple[str, str | None, bool]:
    if not isinstance(data, dict) or set(data) - {"title", "description", "completed"}:
        raise HttpError(422, "Expected {title, description?, completed?}")
    title, description = data.get("title"), data.get("description")
    completed = data.get("completed", False)
    if not isinstance(title, str) or not 1 <= len(title := title.strip()) <= 200:
        raise HttpError(422, "title must be 1 to 200 characters")
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        raise HttpError(422, "description must be at most 1000 characters")
    if not isinstance(completed, bool):
        raise HttpError(422, "completed must be a boolean")
    return title, description or None, completed


def _asyncpg_dsn(url: str) -> str:
    # The API accepts SQLAlchemy-style URLs; asyncpg wants plain postgresql://.
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


app = Floor()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # The same server settings as `todo-api serve`, so the difference is the application.
    uvicorn.run(
        "bench.floor:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        server_header=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
