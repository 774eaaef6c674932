"""The clock: the system's time, or one a test sets and moves."""

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from todo_api.core.clock import SYSTEM_CLOCK, FixedClock


def test_the_system_clock_tells_the_current_time_in_utc() -> None:
    before = datetime.now(UTC)
    now = SYSTEM_CLOCK.now()
    after = datetime.now(UTC)

    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
    assert SYSTEM_CLOCK.time() == pytest.approx(after.timestamp(), abs=1)
    assert SYSTEM_CLOCK.monotonic() == pytest.approx(time.monotonic(), abs=1)


def test_a_fixed_clock_stands_still_until_advanced() -> None:
    start = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    clock = FixedClock(start)

    assert clock.now() == start
    assert clock.now().tzinfo is UTC
    assert clock.time() == start.timestamp()
    assert clock.now() == clock.now(), "no time passes by itself"

    clock.advance(90)
    assert clock.now() == start + timedelta(seconds=90)
    assert clock.time() == start.timestamp() + 90
    assert clock.monotonic() == clock.time()


def test_a_fixed_clock_refuses_a_naive_start_and_going_back() -> None:
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 1, 1))
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
