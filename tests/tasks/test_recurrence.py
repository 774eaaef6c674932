"""Recurrence rules: the canonical text, what is refused, and series as dateutil computes them.

Every expected series is built here with dateutil's `rrule` directly, with an explicit
`dtstart` and time zone, never through the module under test.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import (
    DAILY,
    FR,
    MO,
    MONTHLY,
    TH,
    TU,
    WE,
    WEEKLY,
    YEARLY,
    rrule,
    weekdays,
)
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from todo_api.tasks.recurrence import next_due, normalize, until_is_date

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
UTC_ZONE = ZoneInfo("UTC")


def walk(rule: str, start: date, zone: ZoneInfo = UTC_ZONE, steps: int = 50) -> list[date]:
    """The series as completing it shows it: the start, then each next due until the end."""
    series = [start]
    while len(series) < steps:
        following = next_due(rule, start=start, current=series[-1], zone=zone)
        if following is None:
            break
        series.append(following)
    return series


def days(occurrences: Iterable[datetime]) -> list[date]:
    return [each.date() for each in occurrences]


def in_utc(occurrences: Iterable[datetime]) -> list[datetime]:
    return [each.astimezone(UTC) for each in occurrences]


def series_of(
    rule: rrule, start: datetime, count: int | None = None, steps: int = 50
) -> list[datetime]:
    """DTSTART, then the rule's occurrences after it, COUNT in all (RFC 5545 3.3.10)."""
    after = islice((each for each in rule if each > start), steps - 1)
    return [start, *after][:count]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Series


def test_a_daily_series_steps_a_day_at_a_time_across_month_ends() -> None:
    expected = days(rrule(DAILY, dtstart=datetime(2026, 2, 26), count=6))

    assert walk("FREQ=DAILY", date(2026, 2, 26), steps=6) == expected


def test_a_weekly_series_visits_each_listed_day() -> None:
    expected = days(rrule(WEEKLY, dtstart=datetime(2026, 3, 2), byweekday=(MO, WE, FR), count=10))

    assert walk("FREQ=WEEKLY;BYDAY=MO,WE,FR", date(2026, 3, 2), steps=10) == expected


def test_the_31st_of_each_month_skips_months_without_one() -> None:
    expected = days(rrule(MONTHLY, dtstart=datetime(2026, 1, 31), bymonthday=31, count=7))

    series = walk("FREQ=MONTHLY;BYMONTHDAY=31", date(2026, 1, 31), steps=7)

    assert series == expected
    assert [each.month for each in series] == [1, 3, 5, 7, 8, 10, 12]


def test_bymonthday_minus_one_is_the_last_day_of_each_month() -> None:
    expected = days(rrule(MONTHLY, dtstart=datetime(2027, 12, 31), bymonthday=-1, count=4))

    series = walk("FREQ=MONTHLY;BYMONTHDAY=-1", date(2027, 12, 31), steps=4)

    assert series == expected
    assert series == [date(2027, 12, 31), date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31)]


@pytest.mark.parametrize(
    ("start", "expected"),
    [(date(2028, 2, 29), date(2032, 2, 29)), (date(2096, 2, 29), date(2104, 2, 29))],
)
def test_a_yearly_series_on_february_29_recurs_in_the_next_leap_year(
    start: date, expected: date
) -> None:
    reference = rrule(YEARLY, dtstart=datetime.combine(start, time()), count=2)[1].date()

    following = next_due("FREQ=YEARLY", start=start, current=start, zone=UTC_ZONE)

    assert following == expected == reference


@pytest.mark.parametrize(
    ("rule", "reference"),
    [
        ("FREQ=DAILY;INTERVAL=3", {"freq": DAILY, "interval": 3}),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
            {"freq": WEEKLY, "interval": 2, "byweekday": (TU, TH)},
        ),
        (
            "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=30",
            {"freq": MONTHLY, "interval": 5, "bymonthday": 30},
        ),
        (
            "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYDAY=-1MO",
            {"freq": YEARLY, "interval": 4, "bymonth": 2, "byweekday": MO(-1)},
        ),
    ],
)
def test_interval_skips_periods(rule: str, reference: dict[str, Any]) -> None:
    start = datetime(2026, 1, 30)  # a Friday
    expected = days(series_of(rrule(dtstart=start, **reference), start, steps=12))

    assert walk(rule, start.date(), steps=12) == expected


def test_count_ends_the_series_at_its_last_occurrence() -> None:
    expected = days(rrule(DAILY, dtstart=datetime(2026, 5, 1), count=3))

    series = walk("FREQ=DAILY;COUNT=3", date(2026, 5, 1))

    assert series == expected
    assert (
        next_due("FREQ=DAILY;COUNT=3", start=date(2026, 5, 1), current=series[-1], zone=UTC_ZONE)
        is None
    )


def test_count_counts_a_start_the_rule_would_not_produce() -> None:
    # RFC 5545 3.3.10: DTSTART is the first of the COUNT occurrences even off the rule
    # (a Wednesday here), so two Mondays follow it, not three.
    wednesday = date(2026, 3, 4)
    mondays = days(rrule(WEEKLY, dtstart=datetime(2026, 3, 4), byweekday=MO, count=2))

    assert walk("FREQ=WEEKLY;BYDAY=MO;COUNT=3", wednesday) == [wednesday, *mondays]


def test_an_all_day_series_ends_on_its_until_date() -> None:
    expected = days(rrule(DAILY, dtstart=datetime(2026, 1, 1), until=datetime(2026, 1, 5)))

    series = walk("FREQ=DAILY;UNTIL=20260105", date(2026, 1, 1))

    assert series == expected
    assert series[-1] == date(2026, 1, 5)


@pytest.mark.parametrize(("until", "last"), [("20260330T070000Z", 30), ("20260330T065959Z", 29)])
def test_a_timed_series_ends_at_its_until_time_in_utc(until: str, last: int) -> None:
    # Daily at 09:00 in Berlin across the March change: 08:00Z, then 07:00Z from the 29th.
    rule = f"FREQ=DAILY;UNTIL={until}"
    bound = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expected = in_utc(rrule(DAILY, dtstart=datetime(2026, 3, 26, 9, tzinfo=BERLIN), until=bound))

    series = walk(rule, utc("2026-03-26T08:00:00Z"), BERLIN)

    assert series == expected
    assert series[-1] == datetime(2026, 3, last, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        (BERLIN, "2026-03-22T08:00:00Z", "2026-03-29T07:00:00Z"),
        (BERLIN, "2026-10-18T07:00:00Z", "2026-10-25T08:00:00Z"),
        (NEW_YORK, "2026-03-01T14:00:00Z", "2026-03-08T13:00:00Z"),
        (NEW_YORK, "2026-10-25T13:00:00Z", "2026-11-01T14:00:00Z"),
    ],
)
def test_weekly_at_nine_keeps_the_local_time_across_daylight_saving(
    zone: ZoneInfo, start: str, expected: str
) -> None:
    first = utc(start)
    local = first.astimezone(zone)
    assert local.hour == 9
    nine = datetime(local.year, local.month, local.day, 9, tzinfo=zone)
    reference = in_utc(rrule(WEEKLY, dtstart=nine, count=4))

    following = next_due("FREQ=WEEKLY", start=first, current=first, zone=zone)

    assert following == utc(expected) == reference[1]
    assert isinstance(following, datetime)
    assert following.tzinfo is UTC
    assert walk("FREQ=WEEKLY", first, zone, steps=4) == reference


def test_a_local_time_skipped_by_the_clock_change_takes_the_offset_before_it() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29; fold=0 reads it with +01:00 (RFC 5545 3.3.5).
    expected = in_utc(rrule(DAILY, dtstart=datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN), count=3))

    series = walk("FREQ=DAILY", utc("2026-03-28T01:30:00Z"), BERLIN, steps=3)

    assert series == expected
    assert series == [
        utc("2026-03-28T01:30:00Z"),
        utc("2026-03-29T01:30:00Z"),
        utc("2026-03-30T00:30:00Z"),
    ]


def test_a_local_time_repeated_by_the_clock_change_takes_its_first_instance() -> None:
    expected = in_utc(rrule(DAILY, dtstart=datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN), count=3))

    series = walk("FREQ=DAILY", utc("2026-10-24T00:30:00Z"), BERLIN, steps=3)

    assert series == expected
    assert series == [
        utc("2026-10-24T00:30:00Z"),
        utc("2026-10-25T00:30:00Z"),
        utc("2026-10-26T01:30:00Z"),
    ]


def test_a_start_in_the_second_instance_of_a_repeated_hour_counts_once() -> None:
    # 01:30Z is the second 02:30 in Berlin on 2026-10-25; the rule's own 02:30 that day is the
    # first instance, an hour earlier, so the series goes on to the next day.
    start = utc("2026-10-25T01:30:00Z")
    expected = in_utc(series_of(rrule(DAILY, dtstart=start.astimezone(BERLIN)), start, count=2))

    assert walk("FREQ=DAILY;COUNT=2", start, BERLIN) == expected
    assert expected[1] == utc("2026-10-26T01:30:00Z")


def test_a_timed_due_keeps_its_microseconds() -> None:
    start = utc("2026-03-22T08:00:00.250000Z")

    following = next_due("FREQ=WEEKLY", start=start, current=start, zone=BERLIN)

    assert following == utc("2026-03-29T07:00:00.250000Z")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (date(2026, 3, 2), date(2026, 3, 9)),
        (date(2026, 3, 4), date(2026, 3, 9)),
        (date(2026, 3, 8), date(2026, 3, 9)),
        (date(2026, 3, 9), date(2026, 3, 16)),
        (date(2026, 2, 1), date(2026, 3, 2)),
    ],
)
def test_the_next_due_is_the_first_occurrence_strictly_after_the_current_one(
    current: date, expected: date
) -> None:
    reference = days(rrule(WEEKLY, dtstart=datetime(2026, 3, 2), byweekday=MO, count=3))
    assert expected in reference

    assert (
        next_due("FREQ=WEEKLY;BYDAY=MO", start=date(2026, 3, 2), current=current, zone=BERLIN)
        == expected
    )


def test_a_sparse_series_is_followed_centuries_ahead() -> None:
    # 2100, 2200 and 2300 are not leap years.
    rule = "FREQ=YEARLY;INTERVAL=100;BYMONTH=2;BYMONTHDAY=29"
    reference = rrule(YEARLY, dtstart=datetime(2000, 2, 29), interval=100, bymonth=2, bymonthday=29)

    following = next_due(rule, start=date(2000, 2, 29), current=date(2000, 2, 29), zone=UTC_ZONE)

    assert following == reference[1].date() == date(2400, 2, 29)


@pytest.mark.parametrize(
    ("rule", "start", "reference"),
    [
        # February 31st, from a start on January 31st.
        ("FREQ=YEARLY;BYMONTH=2", date(2026, 1, 31), {"freq": YEARLY, "bymonth": 2}),
        # Every other month from February: never March.
        (
            "FREQ=MONTHLY;INTERVAL=2;BYMONTH=3",
            date(2026, 2, 1),
            {"freq": MONTHLY, "interval": 2, "bymonth": 3},
        ),
        # Every seventh day from a Tuesday: never a Monday.
        (
            "FREQ=DAILY;INTERVAL=7;BYDAY=MO",
            date(2026, 1, 27),
            {"freq": DAILY, "interval": 7, "byweekday": MO},
        ),
    ],
)
def test_a_rule_that_never_matches_from_its_start_ends_after_the_start(
    rule: str, start: date, reference: dict[str, Any]
) -> None:
    assert list(rrule(dtstart=datetime.combine(start, time()), **reference)) == []

    assert next_due(rule, start=start, current=start, zone=UTC_ZONE) is None


@pytest.mark.parametrize(
    ("rule", "start", "zone"),
    [
        ("FREQ=DAILY", date(9999, 12, 31), UTC_ZONE),
        # dateutil's week from 9999-12-27 runs into year 10000.
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR,SA,SU", date(9999, 12, 31), UTC_ZONE),
        # 20:00 in New York on 9999-12-31 is in year 10000 in UTC.
        ("FREQ=WEEKLY", utc("9999-12-25T01:00:00Z"), NEW_YORK),
        # The start itself is in year 10000 in Tokyo.
        ("FREQ=DAILY", utc("9999-12-31T23:00:00Z"), TOKYO),
    ],
)
def test_a_series_ends_with_the_calendar_in_year_9999(
    rule: str, start: date, zone: ZoneInfo
) -> None:
    assert next_due(rule, start=start, current=start, zone=zone) is None


@pytest.mark.parametrize(
    ("rule", "start"),
    [
        ("FREQ=DAILY;UNTIL=20270101", utc("2026-01-01T09:00:00Z")),
        ("FREQ=DAILY;UNTIL=20270101T000000Z", date(2026, 1, 1)),
    ],
)
def test_an_until_of_the_other_form_is_refused(rule: str, start: date) -> None:
    with pytest.raises(
        ValueError,
        match=r"^UNTIL must be a UTC time for a timed due and a date for an all-day one$",
    ):
        next_due(rule, start=start, current=start, zone=UTC_ZONE)


@pytest.mark.parametrize(
    ("start", "current"),
    [
        (date(2026, 1, 1), utc("2026-01-02T00:00:00Z")),
        (utc("2026-01-01T00:00:00Z"), date(2026, 1, 2)),
    ],
)
def test_a_date_and_a_time_do_not_mix(start: date, current: date) -> None:
    with pytest.raises(
        ValueError, match=r"^start and current must both be dates or both be times$"
    ):
        next_due("FREQ=DAILY", start=start, current=current, zone=UTC_ZONE)


# Walking next_due against dateutil for generated rules

STEPS = 8
FREQUENCIES = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY, "YEARLY": YEARLY}
DAY_NAMES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@st.composite
def simple_rules(draw: st.DrawFn) -> tuple[str, dict[str, Any], int | None]:
    """Rule text, the same rule as rrule() arguments, and its COUNT."""
    frequency = draw(st.sampled_from(sorted(FREQUENCIES)))
    interval = draw(st.integers(1, 3))
    # With INTERVAL above 1, BYMONTH can leave a start that never reaches a listed month, and
    # both sides would scan to year 9999: test_a_rule_that_never_matches_from_its_start_... .
    months = draw(st.lists(st.integers(1, 12), max_size=3, unique=True)) if interval == 1 else []
    month_days = draw(st.lists(st.integers(-31, 31).filter(bool), max_size=3, unique=True))
    chosen = draw(st.lists(st.sampled_from(weekdays), max_size=3, unique=True))
    if frequency in ("MONTHLY", "YEARLY") and draw(st.booleans()):
        ordinals = st.integers(-4, 4).filter(bool)
        chosen = [each(draw(ordinals)) for each in chosen]
    count = draw(st.none() | st.integers(1, 10))
    parts = [f"FREQ={frequency}", f"INTERVAL={interval}"]
    if months:
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if month_days:
        parts.append("BYMONTHDAY=" + ",".join(map(str, month_days)))
    if chosen:
        parts.append(
            "BYDAY=" + ",".join(f"{each.n or ''}{DAY_NAMES[each.weekday]}" for each in chosen)
        )
    if count is not None:
        parts.append(f"COUNT={count}")
    arguments = {
        "freq": FREQUENCIES[frequency],
        "interval": interval,
        "bymonth": months or None,
        "bymonthday": month_days or None,
        "byweekday": chosen or None,
    }
    return ";".join(draw(st.permutations(parts))), arguments, count


@settings(max_examples=150, deadline=None)
@given(
    rule=simple_rules(),
    # Days up to the 28th: a start on the 29th to 31st can leave a BYMONTH rule without any
    # occurrence (February 30th), as test_a_rule_that_never_matches_from_its_start_... shows.
    day=st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(lambda d: d.replace(day=min(d.day, 28))),
    clock=st.none() | st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    zone=st.sampled_from([UTC_ZONE, BERLIN, NEW_YORK]),
)
def test_walking_next_due_reproduces_dateutils_series(
    rule: tuple[str, dict[str, Any], int | None], day: date, clock: time | None, zone: ZoneInfo
) -> None:
    text, arguments, count = rule
    try:
        normalized = normalize(text)
    except ValueError:
        reject()  # BY parts that match no day, such as BYMONTH=4;BYMONTHDAY=31
    start: date
    expected: Sequence[date]
    if clock is None:
        start = day
        midnight = datetime.combine(day, time())
        expected = days(series_of(rrule(dtstart=midnight, **arguments), midnight, count, STEPS))
    else:
        # The series' DTSTART is the due read in the zone (contract: start converted to zone).
        start = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
        local = rrule(dtstart=start.astimezone(zone), **arguments)
        expected = in_utc(series_of(local, start, count, STEPS))

    assert walk(normalized, start, zone, steps=STEPS) == expected


# Rule text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (" freq=weekly;byday=mo,we ", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("UNTIL=20270101;FREQ=DAILY;INTERVAL=02", "FREQ=DAILY;INTERVAL=2;UNTIL=20270101"),
        (
            "count=3;byday=mo;bymonthday=1,+1,-1;bymonth=3,3;interval=1;freq=monthly",
            "FREQ=MONTHLY;INTERVAL=1;BYMONTH=3;BYMONTHDAY=1,-1;BYDAY=MO;COUNT=3",
        ),
        ("FREQ=WEEKLY;BYDAY=FR,MO,FR", "FREQ=WEEKLY;BYDAY=FR,MO"),
        ("FREQ=MONTHLY;BYDAY=+1MO,-1FR,01MO", "FREQ=MONTHLY;BYDAY=1MO,-1FR"),
        ("freq=daily;until=20270101t093000z", "FREQ=DAILY;UNTIL=20270101T093000Z"),
        ("FREQ=YEARLY;INTERVAL=1000;COUNT=1000", "FREQ=YEARLY;INTERVAL=1000;COUNT=1000"),
        ("\tFREQ=DAILY;BYMONTHDAY=" + "1," * 238 + "01\n", "FREQ=DAILY;BYMONTHDAY=1"),
        # Rare but real days are kept.
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
        ),
        ("FREQ=MONTHLY;BYMONTH=2;BYDAY=5FR", "FREQ=MONTHLY;BYMONTH=2;BYDAY=5FR"),
        ("FREQ=YEARLY;BYDAY=53MO,-53SU", "FREQ=YEARLY;BYDAY=53MO,-53SU"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=-29", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=-29"),
    ],
)
def test_normalize_returns_the_canonical_text(text: str, canonical: str) -> None:
    assert normalize(text) == canonical
    assert normalize(canonical) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the rule is empty"),
        (" \t ", "the rule is empty"),
        ("FREQ=DAILY;BYMONTHDAY=" + "1," * 239 + "1", "the rule is longer than 500 characters"),
        ("RRULE:FREQ=DAILY", "leave out the RRULE: prefix"),
        ("rrule:freq=daily", "leave out the RRULE: prefix"),
        ("FREQ=DAILY;", "each part is NAME=VALUE, separated by ;"),
        ("FREQ", "each part is NAME=VALUE, separated by ;"),
        ("FREQ=DAILY;BYSETPOS=1", "unknown part BYSETPOS"),
        ("FREQ=DAILY;WKST=SU", "unknown part WKST"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is set more than once"),
        ("FREQ=DAILY;COUNT=2;count=2", "COUNT is set more than once"),
        ("INTERVAL=2", "FREQ is required"),
        ("FREQ=HOURLY", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"),
        ("FREQ=", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;INTERVAL=1001", "INTERVAL must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;INTERVAL=٣", "INTERVAL must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH values must be 1 to 12"),
        ("FREQ=YEARLY;BYMONTH=1,,2", "BYMONTH values must be 1 to 12"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY values must be 1 to 31 or -31 to -1"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY values must be 1 to 31 or -31 to -1"),
        ("FREQ=MONTHLY;BYMONTHDAY=-32", "BYMONTHDAY values must be 1 to 31 or -31 to -1"),
        (
            "FREQ=WEEKLY;BYDAY=MON",
            "BYDAY values must be MO to SU, optionally after 1 to 53 or -1 to -53",
        ),
        (
            "FREQ=MONTHLY;BYDAY=0MO",
            "BYDAY values must be MO to SU, optionally after 1 to 53 or -1 to -53",
        ),
        (
            "FREQ=YEARLY;BYDAY=54MO",
            "BYDAY values must be MO to SU, optionally after 1 to 53 or -1 to -53",
        ),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY ordinals like 1MO need FREQ=MONTHLY or YEARLY"),
        ("FREQ=DAILY;BYDAY=-1FR", "BYDAY ordinals like 1MO need FREQ=MONTHLY or YEARLY"),
        ("FREQ=MONTHLY;BYDAY=MO,1FR", "BYDAY cannot mix days with and without ordinals"),
        ("FREQ=MONTHLY;BYDAY=6MO", "BYDAY ordinals within a month must be 1 to 5 or -1 to -5"),
        (
            "FREQ=YEARLY;BYMONTH=1;BYDAY=-6MO",
            "BYDAY ordinals within a month must be 1 to 5 or -1 to -5",
        ),
        (
            "FREQ=DAILY;UNTIL=20270230",
            "UNTIL must be a real date (YYYYMMDD) or UTC time (YYYYMMDDTHHMMSSZ)",
        ),
        (
            "FREQ=DAILY;UNTIL=2027-01-01",
            "UNTIL must be a real date (YYYYMMDD) or UTC time (YYYYMMDDTHHMMSSZ)",
        ),
        (
            "FREQ=DAILY;UNTIL=20270101T240000Z",
            "UNTIL must be a real date (YYYYMMDD) or UTC time (YYYYMMDDTHHMMSSZ)",
        ),
        (
            "FREQ=DAILY;UNTIL=20270101T000000",
            "UNTIL must be a real date (YYYYMMDD) or UTC time (YYYYMMDDTHHMMSSZ)",
        ),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "COUNT and UNTIL cannot both be set"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "the rule never produces an occurrence"),
        ("FREQ=WEEKLY;BYMONTH=4,6,9,11;BYMONTHDAY=31", "the rule never produces an occurrence"),
        ("FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=8", "the rule never produces an occurrence"),
    ],
)
def test_normalize_refuses_anything_outside_the_contract(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        normalize(text)


@pytest.mark.parametrize(
    ("rule", "is_date"),
    [
        ("FREQ=DAILY;UNTIL=20270101", True),
        ("FREQ=DAILY;UNTIL=20270101T000000Z", False),
        ("FREQ=DAILY;COUNT=2", None),
    ],
)
def test_until_is_date_tells_the_two_forms_apart(rule: str, is_date: bool | None) -> None:
    assert until_is_date(rule) is is_date
