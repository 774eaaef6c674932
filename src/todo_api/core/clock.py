"""The one source of "now": code that depends on the time takes a Clock, so tests set the time.

`SystemClock` is the real one. `FixedClock` stands still until a test moves it, so a test of
expiry or refill advances the clock instead of sleeping.
"""

from datetime import UTC, datetime
from time import monotonic as system_monotonic
from time import time as system_time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch: wall time, comparable between processes."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards, for intervals within this process."""
        ...


class SystemClock:
    # The functions themselves, not wrappers: the rate limiter reads the clock on every request.
    time = staticmethod(system_time)
    monotonic = staticmethod(system_monotonic)

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to; `monotonic()` follows the wall time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._seconds = start.timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._seconds, UTC)

    def time(self) -> float:
        return self._seconds

    def monotonic(self) -> float:
        return self._seconds

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._seconds += seconds


SYSTEM_CLOCK = SystemClock()
