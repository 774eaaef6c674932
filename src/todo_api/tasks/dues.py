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


# The first and last instants a datetime holds: bounds for days at the ends of the calendar.
FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)
LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` begins in `tz`, in UTC. Where midnight itself is skipped by a clock
    change, the day begins at the first instant it has (zoneinfo's fold=0, as RFC 5545 reads a
    skipped time). 0001-01-01 east of UTC begins before year 1 in UTC: at the first instant
    there is, which sorts and bounds the same."""
    try:
        return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        return FIRST_INSTANT


def today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def days(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants [start, end) that the days `first` to `last` (inclusive) cover in `tz`."""
    if last < date.max:
        return day_start(first, tz), day_start(last + timedelta(days=1), tz)
    # 9999-12-31 ends where no date begins: a day after it began, or with the last instant.
    try:
        return day_start(first, tz), day_start(last, tz) + timedelta(days=1)
    except OverflowError:
        return day_start(first, tz), LAST_INSTANT


def due_key(due_date: date | None, due_at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """The instant a due sorts and filters by: a timed due itself, an all-day due as 00:00 of
    its day in the owner's time zone."""
    if due_at is not None:
        return due_at
    if due_date is not None:
        return day_start(due_date, tz)
    return None
