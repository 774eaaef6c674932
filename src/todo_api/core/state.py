"""What the app builds once at start-up and requests use: one typed object."""

from dataclasses import dataclass

import httpx

from todo_api.core.auth import TokenVerifier
from todo_api.core.clock import Clock
from todo_api.core.config import Settings
from todo_api.core.connections import DatabasePool
from todo_api.core.lifecycle import Lifecycle
from todo_api.core.ratelimit import RateLimiter


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    clock: Clock
    pool: DatabasePool
    verifier: TokenVerifier
    # None when RATE_LIMIT_ENABLED=false.
    rate_limiter: RateLimiter | None
    lifecycle: Lifecycle
    http_client: httpx.AsyncClient
