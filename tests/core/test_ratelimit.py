"""Rate limits: GCRA per user and per failed-authentication address, in memory or in Redis.

Time comes from a FixedClock that the tests move, so spending and refilling a budget takes no
sleeping. Redis is the real server on 127.0.0.1:6379; every key a test makes carries this
run's id, so parallel runs never share a budget.
"""

import asyncio
import bisect
import logging
import shutil
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tests.conftest import IN_CI, bearer, client_for, client_with, make_settings, running
from todo_api.core.clock import Clock, FixedClock
from todo_api.core.config import Settings
from todo_api.core.ratelimit import (
    FAIL_OPEN_SECONDS,
    MemoryStore,
    Policy,
    Quota,
    RateLimited,
    RateLimiter,
    RedisStore,
    Store,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN = uuid.uuid4().hex[:12]
START = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
SECOND = 1_000_000
T0 = int(START.timestamp()) * SECOND

LimiterFactory = Callable[..., RateLimiter]


def redis_answers(port: int = 6379) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not redis_answers():
        message = "Redis on 127.0.0.1:6379 is not running"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


def limiter_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def fresh_prefix() -> str:
    return f"todo-api-test:{RUN}:{uuid.uuid4().hex[:8]}:"


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Each behaviour holds for both stores: None is in memory."""
    return None if request.param == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def user() -> str:
    return f"{RUN}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def limiter_for(store_url: str | None, clock: Clock) -> AsyncIterator[LimiterFactory]:
    made: list[RateLimiter] = []

    def make(**overrides: Any) -> RateLimiter:
        made.append(RateLimiter(limiter_settings(redis_url=store_url, **overrides), clock=clock))
        return made[-1]

    yield make
    for limiter in made:
        await limiter.aclose()


@pytest.fixture
async def store(store_url: str | None) -> AsyncIterator[Store]:
    made = MemoryStore() if store_url is None else RedisStore(store_url, prefix=fresh_prefix())
    yield made
    await made.aclose()


async def allowed(charge: Coroutine[Any, Any, Quota | None]) -> Quota:
    quota = await charge
    assert quota is not None
    return quota


async def refused(charge: Coroutine[Any, Any, Quota | None]) -> dict[str, str]:
    with pytest.raises(RateLimited) as refusal:
        await charge
    return refusal.value.headers


@asynccontextmanager
async def clocked_client(
    database_url: str, clock: Clock, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app, running on `clock`."""
    app_settings = make_settings(database_url, **overrides)
    async with running(app_settings, clock=clock) as application, client_for(application) as http:
        yield http


async def test_a_user_over_budget_gets_429_with_retry_after(
    database_url: str, clock: FixedClock
) -> None:
    async with clocked_client(database_url, clock, rate_limit_per_minute=3) as client:
        responses = [await client.get("/api/tasks", headers=bearer("alice")) for _ in range(4)]
        others = await client.get("/api/tasks", headers=bearer("bob"))

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    limited = responses[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["Retry-After"] == "20", "the next request is allowed in 60 s / 3"
    assert limited.headers["RateLimit-Policy"] == '"user";q=3;w=60'
    assert limited.headers["RateLimit"] == '"user";r=0;t=60'
    assert others.status_code == 200, "one user's budget is not another's"


async def test_responses_carry_the_ratelimit_headers(database_url: str, clock: FixedClock) -> None:
    async with clocked_client(database_url, clock, rate_limit_per_minute=600) as client:
        first = await client.get("/api/tasks", headers=bearer("alice"))
        second = await client.get("/api/tasks", headers=bearer("alice"))

    assert first.headers["RateLimit-Policy"] == '"user";q=600;w=60'
    assert first.headers["RateLimit"] == '"user";r=599;t=1'
    assert second.headers["RateLimit"] == '"user";r=598;t=1'


async def test_not_modified_and_error_responses_carry_the_ratelimit_headers_too(
    database_url: str, clock: FixedClock
) -> None:
    async with clocked_client(database_url, clock, rate_limit_per_minute=600) as client:
        created = await client.post("/api/tasks", json={"title": "t"}, headers=bearer("alice"))
        url = f"/api/tasks/{created.json()['id']}"
        answers = [
            await client.get(url, headers={**bearer("alice"), "If-None-Match": '"1"'}),
            await client.get(url, headers=bearer("bob")),
            await client.put(
                url, json={"title": "x"}, headers={**bearer("alice"), "If-Match": '"9"'}
            ),
            await client.put(url, json={"title": ""}, headers=bearer("alice")),
        ]

    assert [answer.status_code for answer in answers] == [304, 404, 412, 422]
    assert [answer.headers["RateLimit"] for answer in answers] == [
        '"user";r=598;t=1',
        '"user";r=599;t=1',
        '"user";r=597;t=1',
        '"user";r=596;t=1',
    ]
    assert all(a.headers["RateLimit-Policy"] == '"user";q=600;w=60' for a in answers)


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


async def test_processes_sharing_redis_share_one_budget(
    database_url: str, redis_url: str, clock: FixedClock, user: str
) -> None:
    shared = {"redis_url": redis_url, "rate_limit_per_minute": 4}
    async with (
        clocked_client(database_url, clock, **shared) as one,
        clocked_client(database_url, clock, **shared) as two,
    ):
        statuses = []
        for client in (one, two, one, two, one):
            statuses.append((await client.get("/api/tasks", headers=bearer(user))).status_code)
        clock.advance(15)
        refilled = await two.get("/api/tasks", headers=bearer(user))
        after = await one.get("/api/tasks", headers=bearer(user))

    assert statuses == [200, 200, 200, 200, 429]
    assert refilled.status_code == 200, "60 s / 4 later either process may admit one more"
    assert after.status_code == 429


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


async def test_the_whole_quota_passes_at_once_then_one_request_per_interval(
    limiter_for: LimiterFactory, clock: FixedClock, user: str
) -> None:
    limiter = limiter_for(rate_limit_per_minute=3)

    burst = [await allowed(limiter.charge_user(user)) for _ in range(3)]
    assert [quota.remaining for quota in burst] == [2, 1, 0]
    assert (await refused(limiter.charge_user(user)))["Retry-After"] == "20"

    clock.advance(19)
    assert (await refused(limiter.charge_user(user)))["Retry-After"] == "1"
    clock.advance(1)
    for _ in range(4):
        quota = await allowed(limiter.charge_user(user))
        assert quota.headers["RateLimit"] == '"user";r=0;t=60'
        assert (await refused(limiter.charge_user(user)))["Retry-After"] == "20"
        clock.advance(20)


async def test_headers_count_what_is_left_and_when_the_whole_quota_is_back(
    limiter_for: LimiterFactory, clock: FixedClock, user: str
) -> None:
    limiter = limiter_for(rate_limit_per_minute=600)

    first = await allowed(limiter.charge_user(user))
    assert first.headers == {
        "RateLimit-Policy": '"user";q=600;w=60',
        "RateLimit": '"user";r=599;t=1',
    }
    for _ in range(298):
        await limiter.charge_user(user)
    assert (await allowed(limiter.charge_user(user))).headers["RateLimit"] == '"user";r=300;t=30'

    clock.advance(10)  # 100 more intervals have passed; 20 s of the 300 requests remain
    assert (await allowed(limiter.charge_user(user))).headers["RateLimit"] == '"user";r=399;t=21'
    clock.advance(30)
    assert (await allowed(limiter.charge_user(user))).headers["RateLimit"] == '"user";r=599;t=1'


async def test_a_minute_without_requests_restores_the_whole_quota(
    limiter_for: LimiterFactory, clock: FixedClock, user: str
) -> None:
    limiter = limiter_for(rate_limit_per_minute=3)
    for _ in range(3):
        await limiter.charge_user(user)
    await refused(limiter.charge_user(user))

    clock.advance(60)
    again = [(await allowed(limiter.charge_user(user))).remaining for _ in range(3)]
    assert again == [2, 1, 0]
    await refused(limiter.charge_user(user))


async def test_failed_authentications_have_a_budget_of_their_own(
    limiter_for: LimiterFactory, user: str
) -> None:
    limiter = limiter_for(rate_limit_per_minute=1, rate_limit_anon_per_minute=1)
    await limiter.charge_anonymous(user)

    headers = await refused(limiter.charge_anonymous(user))
    assert headers["RateLimit-Policy"] == '"anonymous";q=1;w=60'
    assert headers["Retry-After"] == "60"
    assert await limiter.charge_user(user), "a user id equal to an address is another budget"


async def test_a_clock_set_back_costs_one_interval_not_the_whole_jump(store: Store) -> None:
    policy = Policy("user", 600)
    hour_ahead = T0 + 3600 * SECOND
    assert (await store.hit("k", hour_ahead, policy.interval, policy.capacity))[0]

    allowed_now, tat = await store.hit("k", T0, policy.interval, policy.capacity)
    assert not allowed_now
    assert tat == T0 + policy.capacity, "counted as a spent budget"
    assert (await store.hit("k", T0 + policy.interval, policy.interval, policy.capacity))[0]


async def test_redis_keys_expire_when_their_budget_is_whole_again(redis_url: str) -> None:
    prefix = fresh_prefix()
    store = RedisStore(redis_url, prefix=prefix)
    inspector = Redis.from_url(redis_url)
    try:
        for quota, hits, expected_ms in [(600, 1, 100), (3, 3, 60_000)]:
            policy = Policy("user", quota)
            for _ in range(hits):
                await store.hit(f"q{quota}", T0, policy.interval, policy.capacity)
            ttl = await inspector.pttl(f"{prefix}q{quota}")
            assert expected_ms - 1000 < ttl <= expected_ms
    finally:
        await store.aclose()
        await inspector.aclose()


async def test_idle_keys_are_swept_from_memory_at_most_once_per_window() -> None:
    store = MemoryStore()
    policy = Policy("user", 6)  # one request per 10 s

    async def hit(key: str, second: int) -> None:
        await store.hit(key, T0 + second * SECOND, policy.interval, policy.capacity)

    await hit("early", 0)  # whole again at 10 s
    await hit("middle", 30)  # at 40 s
    await hit("late", 59)  # at 69 s
    assert set(store.tats) == {"early", "middle", "late"}, "hits within a window sweep nothing"

    await hit("next", 60)
    assert set(store.tats) == {"late", "next"}, "the next window's first hit sweeps idle keys"

    await hit("early", 61)
    assert set(store.tats) == {"late", "next", "early"}


@pytest.fixture
def limiter_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """Captures the limiter's warnings, once each (whether or not the app's logging is set up)."""
    logger = logging.getLogger("todo_api.ratelimit")
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="todo_api.ratelimit")
    yield caplog
    logger.removeHandler(caplog.handler)


async def test_a_redis_outage_passes_requests_warns_once_and_limits_again_after_recovery(
    free_tcp_port: int, clock: FixedClock, limiter_logs: pytest.LogCaptureFixture
) -> None:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    url = f"redis://127.0.0.1:{free_tcp_port}/0"
    limiter = RateLimiter(limiter_settings(redis_url=url, rate_limit_per_minute=1), clock=clock)
    try:
        results = [await limiter.charge_user("alice") for _ in range(5)]
        assert results == [None] * 5, "not limited while Redis is down"
        assert len(limiter_logs.records) == 1

        clock.advance(FAIL_OPEN_SECONDS)
        assert await limiter.charge_user("alice") is None
        assert len(limiter_logs.records) == 2, "Redis is tried again after the pause"

        argv = [server, "--port", str(free_tcp_port), "--bind", "127.0.0.1", "--save", ""]
        redis = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL)
        try:
            while not redis_answers(free_tcp_port):
                await asyncio.sleep(0.02)
            clock.advance(FAIL_OPEN_SECONDS)
            assert await limiter.charge_user("alice") is not None
            await refused(limiter.charge_user("alice"))
        finally:
            redis.terminate()
            await redis.wait()
    finally:
        await limiter.aclose()


keys = st.sampled_from("abc")
# Bursts (no time passes) and gaps of up to 25 s, in microseconds.
steps = st.one_of(st.just(0), st.integers(1, 25 * SECOND))


@settings(max_examples=60, deadline=None)
@given(quota=st.integers(1, 8), hits=st.lists(st.tuples(keys, steps), max_size=120))
async def test_memory_and_redis_agree_hit_by_hit_and_keep_the_gcra_bound(
    redis_url: str, quota: int, hits: list[tuple[str, int]]
) -> None:
    """Both stores decide every hit alike, and exactly as the GCRA bound allows.

    The bound: any m requests of a key allowed within d microseconds have
    d >= (m - quota) * interval. GCRA allows a request exactly when allowing it keeps the
    bound, so it is checked in both directions. As interval * quota >= 60 s, it follows that
    no 60 s window ever holds more than 2 * quota - 1 allowed requests of one key (the whole
    quota at once, then one per interval).
    """
    policy = Policy("user", quota)
    memory, redis = MemoryStore(), RedisStore(redis_url, prefix=fresh_prefix())
    allowed_at: dict[str, list[int]] = defaultdict(list)
    now = T0
    try:
        for key, step in hits:
            now += step
            in_memory = await memory.hit(key, now, policy.interval, policy.capacity)
            assert await redis.hit(key, now, policy.interval, policy.capacity) == in_memory
            history = allowed_at[key]
            keeps_bound = all(
                now - then >= (len(history) - i + 1 - quota) * policy.interval
                for i, then in enumerate(history)
            )
            assert in_memory[0] == keeps_bound
            if keeps_bound:
                history.append(now)
    finally:
        await redis.aclose()

    for times in allowed_at.values():
        for i, start in enumerate(times):
            assert bisect.bisect_left(times, start + 60 * SECOND) - i <= 2 * quota - 1
