"""Rate limits: per user, per address for failed authentication, shared through Redis."""

import asyncio
import socket
import time
import uuid

import pytest

from tests.conftest import IN_CI, bearer, client_with
from todo_api.core.ratelimit import SweepingMemoryStorage

Headers = dict[str, str]
REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def test_a_user_over_budget_gets_429_with_retry_after(database_url: str) -> None:
    async with client_with(database_url, rate_limit_per_minute=3) as client:
        responses = [await client.get("/api/tasks", headers=bearer("alice")) for _ in range(4)]
        others = await client.get("/api/tasks", headers=bearer("bob"))

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    limited = responses[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Policy"] == '"user";q=3;w=60'
    assert others.status_code == 200, "one user's budget is not another's"


async def test_responses_carry_the_ratelimit_headers(database_url: str) -> None:
    async with client_with(database_url, rate_limit_per_minute=600) as client:
        first = await client.get("/api/tasks", headers=bearer("alice"))
        second = await client.get("/api/tasks", headers=bearer("alice"))

    assert first.headers["RateLimit-Policy"] == '"user";q=600;w=60'
    assert first.headers["RateLimit"].startswith('"user";r=599;t=')
    assert second.headers["RateLimit"].startswith('"user";r=598;t=')


async def test_failed_authentication_is_limited_per_address(database_url: str) -> None:
    async with client_with(database_url, rate_limit_anon_per_minute=2) as client:
        failures = [
            await client.get("/api/tasks", headers={"Authorization": "Bearer nonsense"})
            for _ in range(3)
        ]
        valid = await client.get("/api/tasks", headers=bearer("alice"))

    assert [r.status_code for r in failures] == [401, 401, 429]
    assert failures[-1].headers["Retry-After"].isdigit()
    assert valid.status_code == 200, "a real user behind the same address is not locked out"


async def test_limits_can_be_turned_off(database_url: str) -> None:
    async with client_with(
        database_url, rate_limit_enabled=False, rate_limit_per_minute=1
    ) as client:
        responses = [await client.get("/api/tasks", headers=bearer("alice")) for _ in range(5)]

    assert {r.status_code for r in responses} == {200}
    assert "RateLimit" not in responses[0].headers


async def test_processes_sharing_redis_share_one_budget(database_url: str) -> None:
    if not redis_answers():
        message = "Redis on 127.0.0.1:6379 is not running"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    user = f"shared-{uuid.uuid4().hex}"
    async with (
        client_with(database_url, redis_url=REDIS_URL, rate_limit_per_minute=4) as one,
        client_with(database_url, redis_url=REDIS_URL, rate_limit_per_minute=4) as two,
    ):
        statuses = []
        for client in (one, two, one, two, one):
            statuses.append((await client.get("/api/tasks", headers=bearer(user))).status_code)

    assert statuses == [200, 200, 200, 200, 429]


async def test_an_unreachable_redis_fails_open_without_delay(
    database_url: str, free_tcp_port: int
) -> None:
    dead = f"redis://127.0.0.1:{free_tcp_port}/0"
    async with client_with(database_url, redis_url=dead, rate_limit_per_minute=1) as client:
        started = time.monotonic()
        responses = [await client.get("/api/tasks", headers=bearer("alice")) for _ in range(5)]
        elapsed = time.monotonic() - started

    assert {r.status_code for r in responses} == {200}
    assert elapsed < 3


async def test_expired_counters_are_swept_at_most_once_per_interval() -> None:
    storage = SweepingMemoryStorage()
    storage.sweep_seconds = 3600
    await storage.incr("first", expiry=0)
    await asyncio.sleep(0.05)  # the sweep this hit started runs and finds "first" expired
    assert "first" not in storage.expirations

    for n in range(100):
        await storage.incr(f"burst-{n}", expiry=0)
    await asyncio.sleep(0.05)
    assert len(storage.expirations) == 100, "hits within the interval start no sweep of all keys"

    storage._next_sweep = 0.0  # the interval is over
    await storage.incr("later", expiry=60)
    await asyncio.sleep(0.05)
    assert set(storage.expirations) == {"later"}, "the next interval's sweep frees expired keys"
