"""Recurrence rules: RFC 5545 RRULE values, checked here and expanded by python-dateutil."""

import re
from collections.abc import Callable
from datetime import MAXYEAR, UTC, date, datetime, time
from functools import partial
from itertools import islice
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MO, MONTHLY, WEEKLY, YEARLY, rrule, rruleset, weekdays

MAX_LENGTH: Final = 500
# Far beyond what a planner needs, and small enough that walking a series stays cheap.
MAX_REPEAT: Final = 1000

_FREQUENCIES: Final[dict[str, Literal[0, 1, 2, 3]]] = {
    "DAILY": DAILY,
    "WEEKLY": WEEKLY,
    "MONTHLY": MONTHLY,
    "YEARLY": YEARLY,
}
_WEEKDAYS: Final = dict(zip(("MO", "TU", "WE", "TH", "FR", "SA", "SU"), weekdays, strict=True))

# ASCII digits only: int() also reads the digits of other scripts, such as "٣".
_DIGITS: Final = re.compile(r"[0-9]+")
_SIGNED: Final = re.compile(r"[+-]?[0-9]+")
_BYDAY_ITEM: Final = re.compile(r"(?P<ordinal>[+-]?[0-9]+)?(?P<day>MO|TU|WE|TH|FR|SA|SU)")
_UNTIL: Final = re.compile(r"[0-9]{8}(T[0-9]{6}Z)?")

_UNTIL_FORMS: Final = "UNTIL must be a real date (YYYYMMDD) or UTC time (YYYYMMDDTHHMMSSZ)"


def normalize(text: str) -> str:
    """Check a rule against the contract and return its canonical text."""
    parts = _parse(text)
    _check_occurs(parts)
    return ";".join(f"{name}={value}" for name, value in parts.items())


def until_is_date(text: str) -> bool | None:
    """Whether the rule's UNTIL is a date (True) or a UTC time (False); None without UNTIL."""
    until = _parse(text).get("UNTIL")
    return None if until is None else "T" not in until


def next_due(
    rule: str, *, start: date | datetime, current: date | datetime, zone: ZoneInfo
) -> date | datetime | None:
    """The series' first occurrence strictly after `current`, or None once the series has ended.

    `start` is the series' first occurrence. An all-day series runs on dates. A timed one runs
    on the wall clock in `zone` and answers in UTC; a local time that does not exist or exists
    twice takes zoneinfo's fold=0 offset, the one before the change (RFC 5545 3.3.5).
    """
    parts = _parse(rule)
    until = _parse_until(parts["UNTIL"]) if "UNTIL" in parts else None
    if until is not None and (until.tzinfo is None) == isinstance(start, datetime):
        raise ValueError("UNTIL must be a UTC time for a timed due and a date for an all-day one")
    if isinstance(start, datetime) != isinstance(current, datetime):
        raise ValueError("start and current must both be dates or both be times")
    if isinstance(start, datetime) and isinstance(current, datetime):
        try:
            found = _first_after(parts, start.astimezone(zone), current, until)
            return None if found is None else found.astimezone(UTC)
        except OverflowError:
            # Times end with years 1 and 9999: a series that steps past them has nothing to store.
            return None
    found = _first_after(
        parts, datetime.combine(start, time()), datetime.combine(current, time()), until
    )
    return None if found is None else found.date()


def _first_after(
    parts: dict[str, str], first: datetime, after: datetime, until: datetime | None
) -> datetime | None:
    # dateutil drops microseconds from the rule's occurrences; DTSTART must equal its own.
    whole = first.replace(microsecond=0)
    series = rruleset()
    # RFC 5545 3.8.5.3: DTSTART is the first occurrence even where the rule would not produce it.
    series.rdate(whole)
    series.rrule(
        rrule(
            _FREQUENCIES[parts["FREQ"]],
            dtstart=whole,
            interval=int(parts.get("INTERVAL", "1")),
            wkst=MO,  # RFC 5545's default, not the locale's calendar.firstweekday()
            until=until,
            **_by_arguments(parts),
        )
    )
    # COUNT counts DTSTART (RFC 5545 3.3.10), so it limits the set rather than the rule.
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    occurrences = (each.replace(microsecond=first.microsecond) for each in islice(series, count))
    # A rule that never matches from this start (DAILY;INTERVAL=7;BYDAY=MO from a Tuesday) is
    # scanned to year 9999, where dateutil stops: up to about a second, once per completion.
    try:
        return next((each for each in occurrences if each > after), None)
    except ValueError:
        # dateutil's weeks can run past year 9999, where dates end, and the series with them.
        return None


def _check_occurs(parts: dict[str, str]) -> None:
    # The days BY parts pick in a year depend only on whether it is a leap year and on the
    # weekday of its January 1st, and 9972-9999 has all 14 kinds of year: BY parts that pick no
    # day there pick none ever, and dateutil's scan for them ends at 9999. One YEARLY pass tries
    # each day; with the months listed, YEARLY counts BYDAY ordinals within each month, as
    # MONTHLY does.
    by = _by_arguments(parts)
    if parts["FREQ"] == "MONTHLY":
        by.setdefault("bymonth", range(1, 13))
    years = rrule(YEARLY, dtstart=datetime(MAXYEAR - 27, 1, 1), **by)
    if next(iter(years), None) is None:
        raise ValueError("the rule never produces an occurrence")


def _by_arguments(parts: dict[str, str]) -> dict[str, Any]:
    by: dict[str, Any] = {}
    if "BYMONTH" in parts:
        by["bymonth"] = [int(month) for month in parts["BYMONTH"].split(",")]
    if "BYMONTHDAY" in parts:
        by["bymonthday"] = [int(day) for day in parts["BYMONTHDAY"].split(",")]
    if "BYDAY" in parts:
        by["byweekday"] = [
            _WEEKDAYS[day[-2:]](int(day[:-2])) if day[:-2] else _WEEKDAYS[day[-2:]]
            for day in parts["BYDAY"].split(",")
        ]
    return by


def _parse(text: str) -> dict[str, str]:
    """The rule's parts in canonical order and text, or ValueError for anything else."""
    text = text.strip()
    if not text:
        raise ValueError("the rule is empty")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the rule is longer than {MAX_LENGTH} characters")
    text = text.upper()
    if text.startswith("RRULE:"):
        raise ValueError("leave out the RRULE: prefix")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals:
            raise ValueError("each part is NAME=VALUE, separated by ;")
        if name not in _PARTS:
            raise ValueError(f"unknown part {name}")
        if name in parts:
            raise ValueError(f"{name} is set more than once")
        parts[name] = _PARTS[name](value)
    if "FREQ" not in parts:
        raise ValueError("FREQ is required")
    _check_combination(parts)
    return {name: parts[name] for name in _PARTS if name in parts}


def _check_combination(parts: dict[str, str]) -> None:
    days = parts["BYDAY"].split(",") if "BYDAY" in parts else []
    ordinals = [int(day[:-2]) for day in days if day[:-2]]
    if ordinals and parts["FREQ"] in ("DAILY", "WEEKLY"):
        raise ValueError("BYDAY ordinals like 1MO need FREQ=MONTHLY or YEARLY")  # RFC 5545 3.3.10
    # dateutil reads a mix such as MO,1FR as days that are both, where RFC 5545 means either.
    if 0 < len(ordinals) < len(days):
        raise ValueError("BYDAY cannot mix days with and without ordinals")
    # A month has at most five of a weekday, and dateutil fails on larger ordinals within one.
    if (parts["FREQ"] == "MONTHLY" or "BYMONTH" in parts) and any(abs(n) > 5 for n in ordinals):
        raise ValueError("BYDAY ordinals within a month must be 1 to 5 or -1 to -5")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("COUNT and UNTIL cannot both be set")  # RFC 5545 3.3.10: MUST NOT


def _parse_until(value: str) -> datetime:
    """UNTIL as the rule compares it: a date as naive midnight, a UTC time as aware."""
    if not _UNTIL.fullmatch(value):
        raise ValueError(_UNTIL_FORMS)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(_UNTIL_FORMS) from None


def _frequency(value: str) -> str:
    if value not in _FREQUENCIES:
        raise ValueError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    return value


def _repeat(name: str, value: str) -> str:
    if not (_DIGITS.fullmatch(value) and 1 <= int(value) <= MAX_REPEAT):
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_REPEAT}")
    return str(int(value))


def _until(value: str) -> str:
    _parse_until(value)
    return value


def _listed(item: Callable[[str], str | None], message: str, value: str) -> str:
    """Each item in canonical text, duplicates dropped, in the order given."""
    items: dict[str, None] = {}
    for text in value.split(","):
        canonical = item(text)
        if canonical is None:
            raise ValueError(message)
        items[canonical] = None
    return ",".join(items)


def _month(text: str) -> str | None:
    return str(int(text)) if _DIGITS.fullmatch(text) and 1 <= int(text) <= 12 else None


def _month_day(text: str) -> str | None:
    return str(int(text)) if _SIGNED.fullmatch(text) and 1 <= abs(int(text)) <= 31 else None


def _weekday(text: str) -> str | None:
    match = _BYDAY_ITEM.fullmatch(text)
    if match is None:
        return None
    ordinal, day = match["ordinal"], match["day"]
    if ordinal is None:
        return day
    return f"{int(ordinal)}{day}" if 1 <= abs(int(ordinal)) <= 53 else None


# The parts the contract allows, in canonical order, each with what checks its value.
_PARTS: Final[dict[str, Callable[[str], str]]] = {
    "FREQ": _frequency,
    "INTERVAL": partial(_repeat, "INTERVAL"),
    "BYMONTH": partial(_listed, _month, "BYMONTH values must be 1 to 12"),
    "BYMONTHDAY": partial(_listed, _month_day, "BYMONTHDAY values must be 1 to 31 or -31 to -1"),
    "BYDAY": partial(
        _listed, _weekday, "BYDAY values must be MO to SU, optionally after 1 to 53 or -1 to -53"
    ),
    "COUNT": partial(_repeat, "COUNT"),
    "UNTIL": _until,
}
