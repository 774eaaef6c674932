"""What clients may send (strict, closed) and what the API returns."""

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from todo_api.tasks import recurrence
from todo_api.tasks.models import DESCRIPTION_MAX, PRIORITIES, RECURRENCE_MAX, TITLE_MAX

TAG_MAX = 50
TAGS_MAX = 20
REMINDERS_MAX = 5
REMINDER_MAX = timedelta(days=30)


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate (legal in a JSON escape) has no
    # UTF-8 encoding: both would fail in the driver, so they are input errors here.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return value


def _title(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must contain a non-whitespace character")
    if len(value) > TITLE_MAX:
        raise ValueError(f"must be at most {TITLE_MAX} characters after trimming")
    return _storable(value)


def _description(value: str | None) -> str | None:
    return _storable(value) or None if value is not None else None


# What `str.strip()` trims, spelled out: regex engines differ on `\s` (the Rust one that
# JSON Schema validators use leaves out U+001C to U+001F), and a pattern must say what the
# server does.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _trimmed(inner: str, most: int) -> str:
    """A pattern for text whose trimmed form is 1 to `most` characters, none of them in
    `inner` (the body of a character class); any whitespace around it."""
    edge = f"[^{_SPACE}{inner}]"
    return f"^[{_SPACE}]*{edge}(?:[^{inner}]{{0,{most - 2}}}{edge})?[{_SPACE}]*$"


# The documented schema states the length after trimming (in the pattern): validation trims
# first, so surrounding whitespace never counts against the length.
Title = Annotated[
    str,
    AfterValidator(_title),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            # No NUL; 1 to 200 characters once trimmed.
            "pattern": _trimmed("\\x00", TITLE_MAX),
            "description": "1 to 200 characters after trimming surrounding whitespace",
            "examples": ["Buy milk"],
        }
    ),
]
Description = Annotated[
    str | None,
    Field(max_length=DESCRIPTION_MAX),
    AfterValidator(_description),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": DESCRIPTION_MAX, "pattern": r"^[^\x00]*$"},
                {"type": "null"},
            ],
            "description": 'At most 1000 characters; "" and null are stored as null',
        }
    ),
]

Priority = Literal["none", "low", "medium", "high", "urgent"]
assert get_args(Priority) == PRIORITIES


def _text(value: object) -> str:
    # Dates and times arrive as JSON strings; strict mode alone would refuse them all.
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _calendar_date(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real calendar date") from None


# The start of an RFC 3339 date-time. Lax datetime parsing alone also reads a bare number
# ("0", "1700000000.5") as Unix seconds, which is no RFC 3339 time.
_DATE_TIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _date_time_text(value: object) -> str:
    value = _text(value)
    if not _DATE_TIME_START.match(value):
        raise ValueError("must be an RFC 3339 time, such as 2026-03-22T09:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


DueDate = Annotated[
    date,
    BeforeValidator(_calendar_date),
    BeforeValidator(_text),
    # No example: generators put every property's example into one body, and a due_date next
    # to due_at's would be two dues (the bodies' own examples show an all-day due).
    WithJsonSchema({"type": "string", "format": "date"}),
]
DueAt = Annotated[
    AwareDatetime,
    AfterValidator(_utc),
    BeforeValidator(_date_time_text),
    Field(strict=False),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-03-22T09:00:00Z"]}),
]


def _tags(values: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for value in values:
        tag = value.strip()
        if not 1 <= len(tag) <= TAG_MAX:
            raise ValueError(f"each tag must be 1 to {TAG_MAX} characters after trimming")
        if "," in tag or any(unicodedata.category(c) in {"Cc", "Cs"} for c in tag):
            raise ValueError("a tag cannot contain commas or control characters")
        merged.setdefault(tag.casefold(), tag)  # the first spelling wins
    if len(merged) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags")
    return [merged[key] for key in sorted(merged)]


Tags = Annotated[
    list[str],
    AfterValidator(_tags),
    WithJsonSchema(
        {
            "type": "array",
            "items": {
                "type": "string",
                "minLength": 1,
                # No commas or control characters; 1 to 50 characters once trimmed.
                "pattern": _trimmed(",\\x00-\\x1f\\x7f-\\x9f", TAG_MAX),
            },
            "maxItems": TAGS_MAX,
            "description": "Trimmed; duplicates (ignoring case) merged; returned sorted.",
            "examples": [["errands", "home"]],
        }
    ),
]

# ISO 8601 durations of fixed length: weeks, days, hours, minutes, seconds (a year or a month
# has no fixed length, so "P1M" before a due would be ambiguous).
_DURATION = re.compile(r"P(?:\d+W|(?:\d+D)?(?:T(?:[\d.]+H)?(?:[\d.]+M)?(?:[\d.]+S)?)?)")
_TIMEDELTA = TypeAdapter(timedelta)


def _reminders(values: list[str]) -> list[str]:
    offsets: set[timedelta] = set()
    for value in values:
        if not _DURATION.fullmatch(value) or value in {"P", "PT"} or value.endswith("T"):
            raise ValueError("each reminder must be an ISO 8601 duration such as PT15M or P1D")
        offset = _TIMEDELTA.validate_python(value)
        if offset > REMINDER_MAX:
            raise ValueError("a reminder can be at most 30 days before the due")
        offsets.add(offset)
    if len(offsets) > REMINDERS_MAX:
        raise ValueError(f"at most {REMINDERS_MAX} reminders")
    return [_TIMEDELTA.dump_python(offset, mode="json") for offset in sorted(offsets)]


# A subset of what `_reminders` accepts that a pattern can state: a generator (schemathesis)
# drawing from it gets only accepted values, where the 30-day sum over all units cannot be a
# pattern.
_HOURS, _MINUTES, _SECONDS = "(?:1?[0-9]|2[0-3])H", "[0-5]?[0-9]M", "[0-5]?[0-9]S"
_CLOCK = f"T(?:{_HOURS}(?:{_MINUTES})?(?:{_SECONDS})?|{_MINUTES}(?:{_SECONDS})?|{_SECONDS})"
_REMINDER_PATTERN = f"^P(?:[0-4]W|30D|[12]?[0-9]D(?:{_CLOCK})?|{_CLOCK})$"
Reminders = Annotated[
    list[str],
    AfterValidator(_reminders),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "pattern": _REMINDER_PATTERN, "examples": ["PT15M"]},
            "maxItems": REMINDERS_MAX,
            "description": "ISO 8601 durations before `due_at`, at most 30 days each; "
            "returned merged and sorted shortest first. The pattern gives the common forms "
            "(up to 4 weeks, 30 days, or 29 days and a time); any duration of weeks, days, "
            "hours, minutes and seconds up to 30 days is accepted, such as `PT720H`.",
            "examples": [["PT15M", "P1D"]],
        }
    ),
]


def _recurrence(value: str | None) -> str | None:
    return None if value is None else recurrence.normalize(value)


# A subset of the rules `recurrence.normalize` accepts that a pattern can state: every rule it
# matches has occurrences (month days up to 28 exist in every month), and none has UNTIL,
# whose form depends on the due.
_WEEKDAY = "(?:MO|TU|WE|TH|FR|SA|SU)"
_MONTH = "(?:[1-9]|1[0-2])"
_MONTH_DAY = "(?:-?(?:[1-9]|1[0-9]|2[0-8]))"
_RULE_PATTERN = (
    "^FREQ=(?:DAILY|WEEKLY|MONTHLY|YEARLY)(?:;INTERVAL=[1-9][0-9]?)?"
    f"(?:;BYMONTH={_MONTH}(?:,{_MONTH})*)?(?:;BYMONTHDAY={_MONTH_DAY}(?:,{_MONTH_DAY})*)?"
    f"(?:;BYDAY={_WEEKDAY}(?:,{_WEEKDAY})*)?(?:;COUNT=[1-9][0-9]?)?$"
)
Recurrence = Annotated[
    str | None,
    Field(max_length=RECURRENCE_MAX),
    AfterValidator(_recurrence),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": RECURRENCE_MAX, "pattern": _RULE_PATTERN},
                {"type": "null"},
            ],
            "description": "An RFC 5545 RRULE value without `RRULE:`: FREQ (DAILY, WEEKLY, "
            "MONTHLY, YEARLY) with INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, COUNT or UNTIL; "
            "needs a due. The pattern gives the common forms, parts in the order the API "
            "writes them back; parts in any order, BYDAY ordinals (`-1FR`), month days to 31 "
            "and UNTIL (a date `YYYYMMDD` for a `due_date`, a UTC time `YYYYMMDDTHHMMSSZ` for a "
            "`due_at`) are accepted too.",
            "examples": ["FREQ=WEEKLY;BYDAY=MO"],
        }
    ),
]


def _one_due(value: datetime | None, info: ValidationInfo) -> datetime | None:
    if value is not None and info.data.get("due_date") is not None:
        raise ValueError("a task has either due_date or due_at, not both")
    return value


_REQUEST = ConfigDict(extra="forbid", strict=True)


def _present(name: str, value: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for: the body has `name`, with a value that matches `value`."""
    return {"required": [name], "properties": {name: value}}


_STRING = {"type": "string"}  # a due or rule that is set (not null)
# The rules between fields that the validators enforce, stated in the document so that a
# client (or a generator such as schemathesis) knows them: both dues set in one body is 422.
_ONE_DUE = {
    "not": {
        "required": ["due_date", "due_at"],
        "properties": {"due_date": _STRING, "due_at": _STRING},
    }
}


def _create_schema(schema: dict[str, Any]) -> None:
    # A new task has no stored due to lean on: a rule needs a due in the body, reminders a
    # due_at.
    schema["allOf"] = [
        _ONE_DUE,
        {
            "if": _present("recurrence", _STRING),
            "then": {"anyOf": [_present("due_date", _STRING), _present("due_at", _STRING)]},
        },
        {"if": _present("reminders", {"minItems": 1}), "then": _present("due_at", _STRING)},
    ]
    schema["examples"] = [
        {"title": "Buy milk", "description": "2 litres"},
        {
            "title": "Pay rent",
            "priority": "high",
            "due_date": "2026-04-01",
            "recurrence": "FREQ=MONTHLY;BYMONTHDAY=1",
            "tags": ["home"],
        },
        {"title": "Dentist", "due_at": "2026-03-23T08:30:00Z", "reminders": ["PT1H", "P1D"]},
    ]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_create_schema)

    title: Title
    description: Description = None
    completed: bool = False
    priority: Priority = "none"
    due_date: DueDate | None = None
    due_at: Annotated[DueAt | None, AfterValidator(_one_due)] = None
    tags: Tags = Field(default_factory=list)
    recurrence: Recurrence = None
    reminders: Reminders = Field(default_factory=list)


# Fields the server owns that a client may send back unchanged in an update (frontends PUT the
# whole task they read). `version` is one of them, and acts as If-Match.
ECHOED_FIELDS = (
    "id",
    "user_id",
    "position",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
)
WRITABLE_FIELDS = (
    "title",
    "description",
    "completed",
    "priority",
    "due_date",
    "due_at",
    "tags",
    "recurrence",
    "reminders",
)
_NULLABLE = ("description", "due_date", "due_at", "recurrence", "completed_at")
_NOT_NULL = tuple(name for name in (*WRITABLE_FIELDS, *ECHOED_FIELDS) if name not in _NULLABLE)


def _rfc3339_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time string, as the API returns it")
    return value


# The strings the API writes (RFC 3339) are what comes back; strict mode would refuse them.
EchoedTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), Field(strict=False)]


def _update_schema(schema: dict[str, Any]) -> None:
    # What the validators below enforce, stated in the document: at least one field, and only
    # `description` may be null (it clears the description).
    schema["minProperties"] = 1
    # Whether a rule or reminders have their due depends on the stored task as well: only
    # the rule within the body is stated here.
    schema["allOf"] = [_ONE_DUE]
    for name in _NOT_NULL:
        field = schema["properties"][name]
        field.update(next(option for option in field.pop("anyOf") if option.get("type") != "null"))
        field.pop("default", None)
    schema["examples"] = [{"title": "Buy oat milk"}, {"completed": True}]


# JSON Schema's readOnly (2020-12, section 9.4): managed by the server, and an attempt to
# change it is rejected; sending the stored value back is not an attempt.
_ECHO: dict[str, Any] = {
    "description": "Server-owned: accepted when it equals the stored value (a client may send "
    "back the task it read), 422 when it differs.",
    "json_schema_extra": {"readOnly": True},
}


class TaskUpdate(BaseModel):
    """Only the fields sent change; at least one writable field is required.

    The task as read may be sent back whole: its server-owned fields must equal the stored
    values, and `version` works like If-Match (412 when the task has moved on).
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_update_schema)

    title: Title | None = None
    description: Description = None
    completed: bool | None = None
    priority: Priority | None = None
    due_date: DueDate | None = None
    due_at: Annotated[DueAt | None, AfterValidator(_one_due)] = None
    tags: Tags | None = None
    recurrence: Recurrence = None
    reminders: Reminders | None = None
    id: int | None = Field(default=None, **_ECHO)
    user_id: str | None = Field(default=None, **_ECHO)
    position: str | None = Field(default=None, **_ECHO)
    completed_at: EchoedTime | None = Field(default=None, **_ECHO)
    created_at: EchoedTime | None = Field(default=None, **_ECHO)
    updated_at: EchoedTime | None = Field(default=None, **_ECHO)
    version: int | None = Field(
        default=None,
        description="Server-owned: the version the change is based on, 412 if it is not current "
        "(as If-Match).",
        json_schema_extra={"readOnly": True},
    )

    @field_validator(*_NOT_NULL)
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Omitted means unchanged; an explicit null is a mistake, reported on its own field.
        if value is None:
            raise ValueError("cannot be null")
        return value

    @model_validator(mode="after")
    def _some_change(self) -> Self:
        if not self.model_fields_set.intersection(WRITABLE_FIELDS):
            raise ValueError(f"at least one of {', '.join(WRITABLE_FIELDS)} is required")
        return self

    @property
    def changes(self) -> dict[str, Any]:
        """The fields to write."""
        return self.model_dump(include=set(WRITABLE_FIELDS), exclude_unset=True)

    @property
    def echoed(self) -> dict[str, Any]:
        """The server-owned fields sent back, to compare with the stored task."""
        return self.model_dump(include=set(ECHOED_FIELDS), exclude_unset=True)


class CompletionUpdate(BaseModel):
    """Omit `completed` (or send no body) to toggle; send it to set."""

    model_config = _REQUEST

    completed: bool | None = None


class TaskRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "user_id": "usr_8f2c",
                    "title": "Buy milk",
                    "description": "2 litres",
                    "completed": False,
                    "priority": "high",
                    "due_date": None,
                    "due_at": "2026-01-12T17:00:00Z",
                    "tags": ["errands"],
                    "recurrence": "FREQ=WEEKLY;BYDAY=MO",
                    "reminders": ["PT1H"],
                    "position": "A99999999999999999999999998",
                    "completed_at": None,
                    "created_at": "2026-01-10T09:30:00.123456Z",
                    "updated_at": "2026-01-10T09:30:00.123456Z",
                    "version": 1,
                }
            ]
        },
    )

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    priority: Priority
    due_date: date | None
    due_at: datetime | None
    tags: list[str]
    recurrence: str | None
    reminders: list[str]
    position: str = Field(description="The manual order key: sort by it (byte order).")
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class TaskCounts(BaseModel):
    total: int
    completed: int
    pending: int
    overdue: int = Field(description="Not completed, due before now (today's day in your zone).")
    due_today: int = Field(description="Due today in your time zone.")


_TASK_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def _move_schema(schema: dict[str, Any]) -> None:
    # Exactly one of the three is set (not null): `{"before": 41}`, `{"to": "top"}`, also
    # `{"before": null, "to": "top"}`.
    for name in ("before", "after"):
        # As integers: pydantic writes these bounds as floats, and 2**63 - 1 as a float is 2**63.
        schema["properties"][name]["anyOf"] = [_TASK_ID, {"type": "null"}]
    schema["oneOf"] = [
        _present("before", {"type": "integer"}),
        _present("after", {"type": "integer"}),
        _present("to", _STRING),
    ]
    schema["examples"] = [{"before": 41}, {"to": "top"}]


class TaskMove(BaseModel):
    """Exactly one of `before`, `after` (a task id) or `to`."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_move_schema)

    before: int | None = Field(default=None, ge=1, le=2**63 - 1)
    after: int | None = Field(default=None, ge=1, le=2**63 - 1)
    to: Literal["top", "bottom"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        sent = [name for name in ("before", "after", "to") if getattr(self, name) is not None]
        if len(sent) != 1:
            raise ValueError("send exactly one of before, after or to")
        return self


PAGE_MAX = 200
_DESCENDING_BY_DEFAULT = frozenset({"created_at", "updated_at", "priority"})
Status = Literal["all", "pending", "completed"]


SORT_KEYS = ("created_at", "updated_at", "title", "due", "priority", "position")


def _sort_values(schema: dict[str, Any]) -> None:
    # Every value listed (a typed client gets their union, a generator tries each); the space
    # the pattern also allows is a `+` that reached the server unencoded, not a value to send.
    del schema["pattern"]
    schema["enum"] = [f"{sign}{key}" for sign in ("", "-", "+") for key in SORT_KEYS]


class TaskListQuery(BaseModel):
    """Query parameters of GET /api/tasks."""

    status: Status | None = Field(default=None, description="Default `all`.")
    status_filter: Status | None = Field(
        default=None, description="Synonym of `status` (which wins if both are sent)."
    )
    completed: bool | None = Field(
        default=None,
        description="`true` is `status=completed`, `false` is `status=pending` "
        "(`status` and `status_filter` win if also sent).",
    )
    sort: str = Field(
        default="created_at",
        pattern=rf"^[-+ ]?({'|'.join(SORT_KEYS)})$",
        description="`created_at`, `updated_at` (newest first), `title` (A to Z), `due` "
        "(earliest first; no due last either way), `priority` (urgent first) or `position` "
        "(manual order); prefix `-`/`+` to force direction.",
        json_schema_extra=_sort_values,
    )
    priority: str | None = Field(
        default=None,
        pattern=r"^(none|low|medium|high|urgent)(,(none|low|medium|high|urgent))*$",
        description="Any of these priorities, comma-separated: `high,urgent`.",
    )
    tag: str | None = Field(
        default=None,
        max_length=2000,
        description="Tasks carrying every one of these tags (ignoring case); repeat the "
        "parameter or separate with commas.",
    )
    due: Literal["overdue", "today", "upcoming", "none", "any"] | None = Field(
        default=None,
        description="`overdue` (not completed, due before now), `today`, `upcoming` (the 7 "
        "days after today), `none`, `any`; days are your time zone's.",
    )
    # DueDate: `YYYY-MM-DD` only (a bare `date` would read "0" as Unix seconds, 1970-01-01).
    due_from: DueDate | None = Field(
        default=None, description="The due's day (your time zone) on or after this date."
    )
    due_to: DueDate | None = Field(
        default=None, description="The due's day (your time zone) on or before this date."
    )
    q: str | None = Field(default=None, max_length=200, description="Case-insensitive search.")
    limit: int = Field(
        default=50,
        ge=1,
        le=PAGE_MAX,
        description=f"1 to {PAGE_MAX}; the compatibility paths (`/api/{{user_id}}/tasks`) "
        f"default to {PAGE_MAX}.",
    )
    cursor: str | None = Field(default=None, max_length=1024, description="From `Link: rel=next`.")
    offset: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("offset")
    @classmethod
    def _not_with_cursor(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("cursor") is not None:
            raise ValueError("use either cursor or offset, not both")
        return value

    @field_validator("due_to")
    @classmethod
    def _range_in_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("due_from")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before due_from")
        return value

    @property
    def priorities(self) -> tuple[int, ...] | None:
        if self.priority is None:
            return None
        return tuple(sorted({PRIORITIES.index(name) for name in self.priority.split(",")}))

    @property
    def tag_keys(self) -> list[str]:
        """The tags asked for, as stored for matching (casefolded)."""
        return sorted({tag.strip().casefold() for tag in (self.tag or "").split(",")} - {""})

    @property
    def _completed_status(self) -> Status | None:
        return None if self.completed is None else ("completed" if self.completed else "pending")

    @property
    def effective_status(self) -> Status:
        # Synonyms from different frontends; when several are sent, the first one here wins.
        return self.status or self.status_filter or self._completed_status or "all"

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-+ ")

    @property
    def descending(self) -> bool:
        # A `+` in a query string arrives as a space; both mean ascending.
        if self.sort[0] in "+ ":
            return False
        # Unsigned, the times and priority run from the highest (newest, urgent) down.
        return self.sort[0] == "-" or self.sort_key in _DESCENDING_BY_DEFAULT

    @property
    def normalized_sort(self) -> str:
        return ("-" if self.descending else "+") + self.sort_key
