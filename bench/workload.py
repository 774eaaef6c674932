"""The workload: the loads, the request mix, the users' tokens and the file wrk reads them from."""

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from .database import Seed

# Must match bench/lua/mix.lua.
UPCOMING_LIST = "/api/tasks?sort=due&due=upcoming&tag=work"
MIX = {
    "GET /api/tasks": 65,
    f"GET {UPCOMING_LIST}": 10,
    "POST /api/tasks": 10,
    "GET /api/tasks/{id}": 10,
    "PATCH /api/tasks/{id}/complete": 5,
}
TOKEN_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True, slots=True)
class Load:
    name: str
    title: str
    connections: int  # wrk connections; 0 for the paging test
    think_ms: int
    default_workers: bool  # False: one worker


LOADS = {
    "c100": Load("c100", "closed loop, 100 connections", 100, 0, default_workers=False),
    "c1000": Load("c1000", "closed loop, 1000 connections", 1000, 0, default_workers=True),
    "think": Load("think", "1000 users, 1 s think time", 1000, 1000, default_workers=True),
    "pages": Load("pages", "one user, 1000 tasks, pages of 200", 0, 0, default_workers=True),
}


def new_secret() -> str:
    """48 random bytes (64 URL-safe characters), handed to both servers as BETTER_AUTH_SECRET."""
    return secrets.token_urlsafe(48)


def mint(user_id: str, secret: str) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + TOKEN_TTL_SECONDS}
    return jwt.encode(claims, secret, algorithm="HS256")


def write_lua_data(path: Path, seed: Seed, secret: str) -> None:
    """`return { {token, {task ids}}, ... }`: one entry per user, read by mix.lua's init()."""
    lines = ["return {"]
    for user_id, ids in seed.task_ids.items():
        lines.append(f'{{"{mint(user_id, secret)}", {{{",".join(map(str, ids))}}}}},')
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
