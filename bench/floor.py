"""The floor: the least a Python server can do for the benchmark's workload.

Raw ASGI (no framework), asyncpg, PyJWT, served by uvicorn with uvloop and httptools, like the
API. It runs the same SQL as the API and checks the token the same way (HS256 signature, `exp`
required, 30 s leeway, user id from `sub`), so the API's numbers read as a ratio to what the same
work costs with nothing around it. It serves only what the benchmark sends:

    GET   /health, /ready
    GET   /api/tasks                 ?limit=1..200 (default 50) &cursor=..., X-Total-Count, Link
    GET   /api/tasks?sort=due&due=upcoming&tag=...   the same paging; the user's time zone read
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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import cache
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import jwt
import uvicorn

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# The API's priority names, stored as their rank.
PRIORITIES = ("none", "low", "medium", "high", "urgent")


def _time(column: str) -> str:
    """A UTC time as the API writes it: microseconds unless they are zero, and `Z`."""
    utc = f"({column}) AT TIME ZONE 'UTC'"
    return (
        f"""(to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN date_trunc('second', """
        f"{column}) = ({column}) THEN '' ELSE to_char({utc}, '.US') END || 'Z')"
    )


_PRIORITY = (
    "CASE "
    + " ".join(
        f"WHEN (tasks.priority = {rank}) THEN '{name}'" for rank, name in enumerate(PRIORITIES)
    )
    + " END"
)
# Every statement below is the text the API sends (its SQLAlchemy statements compiled for
# asyncpg, the parameter casts included), but for whitespace and column labels.
# The task as the response body, built by PostgreSQL, every field in the API's order.
_FIELDS = {
    "id": "tasks.id",
    "user_id": "tasks.user_id",
    "title": "tasks.title",
    "description": "tasks.description",
    "completed": "tasks.completed",
    "priority": _PRIORITY,
    "due_date": "tasks.due_date",
    "due_at": _time("tasks.due_at"),
    "tags": "tasks.tags",
    "recurrence": "tasks.recurrence",
    "reminders": "tasks.reminders",
    "position": "tasks.position",
    "completed_at": _time("tasks.completed_at"),
    "created_at": _time("tasks.created_at"),
    "updated_at": _time("tasks.updated_at"),
    "version": "tasks.version",
}
TASK_JSON = (
    "(SELECT row_to_json(j)::text FROM (SELECT "  # noqa: S608
    + ", ".join(f"{sql} AS {name}" for name, sql in _FIELDS.items())
    + ") AS j)"
)
RETURNED = f"{TASK_JSON}, tasks.id, tasks.version"
OWNED = "tasks.user_id = $1::VARCHAR"
GET_ONE = f"SELECT {RETURNED} FROM tasks WHERE {OWNED} AND tasks.id = $2::BIGINT"  # noqa: S608
# The user's row, made on their first create; either way it hands out their next first place in
# the manual order (and their time zone), and stays locked until the transaction ends.
CLAIM_TOP = (
    "INSERT INTO users (id, created_at, time_zone, tops_issued) "
    "VALUES ($1::VARCHAR, $2::TIMESTAMP WITH TIME ZONE, $3::VARCHAR, $4::BIGINT) "
    "ON CONFLICT (id) DO UPDATE SET tops_issued = (users.tops_issued + $5::BIGINT) "
    "RETURNING users.tops_issued, users.time_zone"
)
INSERT_TASK = (
    "INSERT INTO tasks (user_id, title, description, completed, priority, due_date, due_at, "  # noqa: S608
    "due_key, tags, tag_keys, recurrence, series_start, reminders, position, completed_at, "
    "created_at, updated_at, version) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, "
    "$4::BOOLEAN, $5::SMALLINT, $6::DATE, $7::TIMESTAMP WITH TIME ZONE, "
    "$8::TIMESTAMP WITH TIME ZONE, $9::TEXT[], $10::TEXT[], $11::VARCHAR, $12::VARCHAR, "
    "$13::TEXT[], $14::VARCHAR, $15::TIMESTAMP WITH TIME ZONE, $16::TIMESTAMP WITH TIME ZONE, "
    f"$17::TIMESTAMP WITH TIME ZONE, $18::INTEGER) RETURNING {RETURNED}"
)
# Completing a recurring task advances it instead, which the API plans under a lock: the guard
# leaves such a task out of this statement (no seeded task recurs, so it never does here).
TOGGLE = (
    "UPDATE tasks SET completed=NOT tasks.completed, completed_at=CASE WHEN tasks.completed "  # noqa: S608
    "THEN CAST(NULL AS TIMESTAMP WITH TIME ZONE) ELSE $1 END, "
    "updated_at=$1::TIMESTAMP WITH TIME ZONE, version=(tasks.version + $2::INTEGER) "
    "WHERE tasks.user_id = $3::VARCHAR AND tasks.id = $4::BIGINT "
    f"AND (tasks.recurrence IS NULL OR tasks.completed) RETURNING {RETURNED}"
)
TIME_ZONE = "SELECT users.time_zone FROM users WHERE users.id = $1::VARCHAR"
MAX_ID = 2**63 - 1
VERIFIED_CACHE_SIZE = 10_000
MAX_BODY_BYTES = 64 * 1024
TOP_DIGITS = 26
_JSON = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing's statements, as the API builds them for its shape.

    A page and its total come from one statement (the count as an uncorrelated subquery);
    `count` alone serves a cursor past the last page. The page statements take the listing's
    parameters, then (`after`) the cursor's sort value and id, then the limit.
    """

    name: str  # the order, as its cursors record it
    first: str
    after: str
    count: str


def _listing(name: str, key: str, order: str, where: str, keyset: str, params: int) -> Listing:
    count = f"SELECT count(*) FROM tasks WHERE {where}"  # noqa: S608
    select = f"SELECT {TASK_JSON}, {key}, tasks.id, ({count}) FROM tasks WHERE {where}"  # noqa: S608
    return Listing(
        name=name,
        first=f"{select} ORDER BY {order} LIMIT ${params + 1}",
        after=f"{select} AND {keyset} ORDER BY {order} LIMIT ${params + 3}",
        count=count,
    )


# GET /api/tasks: newest first.
RECENT = _listing(
    "-created_at",
    "tasks.created_at",
    "tasks.created_at DESC, tasks.id DESC",
    OWNED,
    "(tasks.created_at, tasks.id) < ($2::TIMESTAMP WITH TIME ZONE, $3)",
    params=1,
)
# GET /api/tasks?sort=due&due=upcoming&tag=...: the next 7 days of the user's time zone,
# carrying every tag, earliest due first (tasks without a due last, as the API orders `due`).
UPCOMING = _listing(
    "+due",
    "tasks.due_key",
    "tasks.due_key ASC NULLS LAST, tasks.id ASC",
    f"{OWNED} AND (tasks.tag_keys @> $2::TEXT[]) AND tasks.due_key >= "
    "$3::TIMESTAMP WITH TIME ZONE AND tasks.due_key < $4::TIMESTAMP WITH TIME ZONE",
    "((tasks.due_key, tasks.id) > ($5::TIMESTAMP WITH TIME ZONE, $6) OR tasks.due_key IS NULL)",
    params=4,
)


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
            return await self._one(TOGGLE, datetime.now(UTC), 1, owner, task_id)
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
            limit = int(query.pop("limit", ["50"])[-1])
        except ValueError:
            raise HttpError(400, "limit must be an integer") from None
        if not 1 <= limit <= 200:
            raise HttpError(400, "limit must be 1 to 200")
        cursor = query.pop("cursor", [None])[-1]
        # A repeated `tag` counts every value, comma-separated ones too, ignoring case.
        tags = sorted({t.strip().casefold() for v in query.pop("tag", []) for t in v.split(",")})
        tag_keys = [tag for tag in tags if tag]
        shape = {name: values[-1] for name, values in query.items()}
        if not shape and not tag_keys:
            listing, link = RECENT, f"/api/tasks?limit={limit}"
        elif shape == {"sort": "due", "due": "upcoming"} and tag_keys:
            listing = UPCOMING
            link = f"/api/tasks?sort=due&due=upcoming&tag={quote(','.join(tag_keys))}&limit={limit}"
        else:
            raise HttpError(400, "The floor serves the default list and sort=due&due=upcoming&tag=")
        async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
            params: list[Any] = [owner]
            if listing is UPCOMING:
                zone = await connection.fetchval(TIME_ZONE, owner)
                params += [tag_keys, *_upcoming(zone or "UTC", datetime.now(UTC))]
            if cursor is None:
                rows = await connection.fetch(listing.first, *params, limit + 1)
            else:
                after, last_id = self._decode_cursor(owner, listing.name, cursor)
                rows = await connection.fetch(listing.after, *params, after, last_id, limit + 1)
            if rows:
                total = rows[0][3]
            elif cursor is None:
                total = 0
            else:  # past the last page no row carries the total
                total = await connection.fetchval(listing.count, *params)
        headers: Headers = [(b"x-total-count", str(total).encode())]
        if len(rows) > limit:
            rows = rows[:limit]
            token = self._encode_cursor(owner, listing.name, rows[-1][1], rows[-1][2])
            headers.append((b"link", f'<{link}&cursor={token}>; rel="next"'.encode()))
        return 200, "[" + ",".join(row[0] for row in rows) + "]", headers

    async def _create(self, owner: str, data: Any) -> Answer:
        title, description, completed = _task_fields(data)
        now = datetime.now(UTC)
        async with (
            self.pool.acquire(timeout=self.acquire_timeout) as connection,
            connection.transaction(),
        ):
            issued, _zone = await connection.fetchrow(CLAIM_TOP, owner, now, "UTC", 1, 1)
            # No due in the body, so nothing for the zone to place: every planning field
            # takes its default, as in the API.
            row = await connection.fetchrow(
                INSERT_TASK,
                owner,
                title,
                description,
                completed,
                0,  # priority "none"
                None,  # due_date
                None,  # due_at
                None,  # due_key
                [],  # tags
                [],  # tag_keys
                None,  # recurrence
                None,  # series_start
                [],  # reminders
                _top_position(issued),
                now if completed else None,
                now,
                now,
                1,
            )
        return 201, row[0], [(b"location", f"/api/tasks/{row[1]}".encode())]

    async def _one(self, sql: str, *arguments: Any) -> Answer:
        async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
            row = await connection.fetchrow(sql, *arguments)
        if row is None:
            raise HttpError(404, "Task not found")
        return 200, row[0], []

    def _encode_cursor(self, owner: str, listing: str, after: datetime, task_id: int) -> str:
        body = f"{listing}|{after.isoformat()}|{task_id}".encode()
        mac = hmac.new(self.cursor_key, owner.encode() + b"\0" + body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16] + body).rstrip(b"=").decode()

    def _decode_cursor(self, owner: str, listing: str, cursor: str) -> tuple[datetime, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            mac, body = raw[:16], raw[16:]
            expected = hmac.new(self.cursor_key, owner.encode() + b"\0" + body, hashlib.sha256)
            if not hmac.compare_digest(mac, expected.digest()[:16]):
                raise ValueError("bad mac")
            name, after, task_id = body.decode().split("|")
            if name != listing:
                raise ValueError("another listing's cursor")
            return datetime.fromisoformat(after), int(task_id)
        except (binascii.Error, ValueError):
            raise HttpError(400, "Invalid cursor") from None


async def _nothing_to_reset(_connection: Any) -> None:
    return None


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock_time(), tzinfo=zone).astimezone(UTC)


def _upcoming(zone_name: str, now: datetime) -> tuple[datetime, datetime]:
    """`due=upcoming`: the instants [start, end) of the 7 days after today in the user's zone."""
    zone = _zone(zone_name)
    today = now.astimezone(zone).date()
    return _day_start(today + timedelta(days=1), zone), _day_start(today + timedelta(days=8), zone)


def _top_position(issued: int) -> str:
    """The API's key for the `issued`-th first place in the manual order (tasks.positions)."""
    return f"A{10**TOP_DIGITS - 1 - issued:0{TOP_DIGITS}d}"


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
