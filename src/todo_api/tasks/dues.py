"""Days in the owner's time zone: where a day starts, which day is today, a due's sort instant."""

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_ZONE = "UTC"


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def is_zone(name: str) -> bool:
    """An IANA zone name this system knows (the `tzdata` package ships them all)."""
    return name in _known()


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` begins in `tz`, in UTC. Where midnight itself is skipped by a clock
    change, the day begins at the first instant it has (zoneinfo's fold=0, as RFC 5545 reads a
    skipped time)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def days(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants [start, end) that the days `first` to `last` (inclusive) cover in `tz`."""
    return day_start(first, tz), day_start(last + timedelta(days=1), tz)


def due_key(due_date: date | None, due_at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """The instant a due sorts and filters by: a timed due itself, an all-day due as 00:00 of
    its day in the owner's time zone."""
    if due_at is not None:
        return due_at
    if due_date is not None:
        return day_start(due_date, tz)
    return None
