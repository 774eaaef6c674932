"""Per-user and per-address request budgets: GCRA, in memory or shared through Redis.

GCRA (the generic cell rate algorithm) keeps one number per key, its theoretical arrival time
(TAT): when the key's budget is whole again. A quota of q per minute spaces requests
`interval` = 60 s / q apart and lets the whole quota come at once: a request at `now` is
allowed when the TAT it leaves, `max(TAT, now) + interval`, is at most `q * interval` ahead of
`now`. So q requests pass at once, then one per interval. Each hit is O(1): one dict entry in
memory, one script call (one round trip) in Redis.

Headers follow the IETF httpapi ratelimit-headers draft: `RateLimit-Policy` names the quota,
`RateLimit` says what is left and when the whole quota is back. If Redis is unreachable the
limiter fails open for a few seconds at a time: an outage of the limiter must not become an
outage of the API.
"""

import logging
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from todo_api.core.clock import SYSTEM_CLOCK, Clock
from todo_api.core.config import Settings
from todo_api.core.errors import AppError

logger = logging.getLogger("todo_api.ratelimit")

# After a storage failure, requests pass unlimited for this long before Redis is tried again.
FAIL_OPEN_SECONDS = 5.0
# A Redis slower than this is treated as down: a request waits at most this long for it.
REDIS_TIMEOUT_SECONDS = 1.0
WINDOW_MICROSECONDS = 60_000_000
REDIS_PREFIX = "todo-api:ratelimit:"


class RateLimited(AppError):
    status = 429
    detail = "Too many requests; retry after the number of seconds in Retry-After"


@dataclass(frozen=True, slots=True)
class Quota:
    policy: str
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w=60',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_seconds}',
        }


class Policy:
    """A quota of `limit` requests per minute, in the integer microseconds GCRA counts in."""

    __slots__ = ("capacity", "interval", "limit", "name")

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        # Between requests at the steady rate, rounded up to a whole microsecond: every time
        # is then an integer, and the Redis script (whose numbers are doubles) computes
        # exactly what Python computes.
        self.interval = -(-WINDOW_MICROSECONDS // limit)
        # How far ahead of now a TAT may be: the whole quota's worth of intervals.
        self.capacity = limit * self.interval


class Store(Protocol):
    async def hit(self, key: str, now: int, interval: int, capacity: int) -> tuple[bool, int]:
        """Apply one request at `now` (microseconds since the epoch) to `key`, atomically.

        Returns whether it is allowed and the key's TAT afterwards.
        """
        ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """This process's budgets: a dict of key -> TAT.

    A key whose TAT has passed holds nothing a missing key would not, so a sweep deletes
    those. It runs at most once per window: a key it keeps was hit within about a window
    before it (its TAT has not passed), and a key it deletes goes once, so sweeping costs O(1)
    per hit, amortised, and no hit pays for a pass over every key.
    """

    def __init__(self) -> None:
        self.tats: dict[str, int] = {}
        self._next_sweep = 0

    async def hit(self, key: str, now: int, interval: int, capacity: int) -> tuple[bool, int]:
        if now >= self._next_sweep:
            self._sweep(now)
        # A TAT more than the capacity ahead was written by a clock ahead of this one (or
        # before this clock was set back): counted as a spent budget, not as hours of one.
        tat = min(max(self.tats.get(key, now), now), now + capacity)
        allowed = tat + interval - now <= capacity
        if allowed:
            tat += interval
        self.tats[key] = tat
        return allowed, tat

    def _sweep(self, now: int) -> None:
        self._next_sweep = now + WINDOW_MICROSECONDS
        # A new dict rather than deletions: a dict never shrinks its table when keys go.
        self.tats = {key: tat for key, tat in self.tats.items() if tat > now}

    async def aclose(self) -> None:
        self.tats.clear()


# MemoryStore.hit, step for step, atomic inside Redis. Times come from the caller (not Redis
# TIME) so that every process, and a test's clock, share one time base. The key expires when
# its TAT passes, when it holds nothing a missing key would not.
GCRA_SCRIPT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tat = math.min(math.max(tonumber(redis.call('GET', KEYS[1])) or now, now), now + capacity)
local allowed = tat + interval - now <= capacity
if allowed then
    tat = tat + interval
end
redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000))
return {allowed and 1 or 0, tat}
"""


class RedisStore:
    """Budgets shared by every process that uses the same Redis: one EVALSHA per hit."""

    def __init__(self, url: str, prefix: str = REDIS_PREFIX) -> None:
        self._prefix = prefix
        self._redis = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            # One immediate retry, for a pooled connection Redis has closed; no backoff and
            # none after a timeout, so a Redis that is down costs a request no extra wait.
            retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        )
        self._script = self._redis.register_script(GCRA_SCRIPT)

    async def hit(self, key: str, now: int, interval: int, capacity: int) -> tuple[bool, int]:
        allowed, tat = await self._script(keys=[self._prefix + key], args=[now, interval, capacity])
        return bool(allowed), int(tat)

    async def aclose(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._store: Store = RedisStore(settings.redis_url) if settings.redis_url else MemoryStore()
        self._user = Policy("user", settings.rate_limit_per_minute)
        self._anonymous = Policy("anonymous", settings.rate_limit_anon_per_minute)
        self._open_until = float("-inf")

    async def charge_user(self, user_id: str) -> Quota | None:
        """Count a request by an authenticated user; RateLimited if the budget is spent."""
        return await self._charge(self._user, user_id)

    async def charge_anonymous(self, address: str) -> None:
        """Count a request that failed authentication against its client address."""
        await self._charge(self._anonymous, address)

    async def aclose(self) -> None:
        """Release the store's connections (call once, when the app shuts down)."""
        await self._store.aclose()

    async def _charge(self, policy: Policy, identity: str) -> Quota | None:
        if self._clock.monotonic() < self._open_until:
            return None
        now = round(self._clock.time() * 1_000_000)
        interval = policy.interval
        try:
            allowed, tat = await self._store.hit(
                f"{policy.name}:{identity}", now, interval, policy.capacity
            )
        except RedisError as error:
            self._open_until = self._clock.monotonic() + FAIL_OPEN_SECONDS
            logger.warning(
                "rate limit storage unavailable, not limiting for %ss: %s", FAIL_OPEN_SECONDS, error
            )
            return None
        if not allowed:
            wait = tat + interval - policy.capacity - now
            quota = Quota(policy.name, policy.limit, 0, _seconds(tat - now))
            raise RateLimited(headers={"Retry-After": str(_seconds(wait)), **quota.headers})
        remaining = (now + policy.capacity - tat) // interval
        return Quota(policy.name, policy.limit, remaining, _seconds(tat - now))


def _seconds(microseconds: int) -> int:
    """Whole seconds, rounded up: a client that waits this long is never early. At least 1."""
    return max(1, -(-microseconds // 1_000_000))
