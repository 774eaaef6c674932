"""What clients may send (strict, closed) and what the API returns."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from todo_api.tasks.models import DESCRIPTION_MAX, TITLE_MAX


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


# The documented schema describes the stored form; validation trims first, so surrounding
# whitespace never counts against the length.
Title = Annotated[
    str,
    AfterValidator(_title),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": TITLE_MAX,
            "pattern": r"^[^\x00]*\S[^\x00]*$",
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

_REQUEST = ConfigDict(extra="forbid", strict=True)


class TaskCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"title": "Buy milk", "description": "2 litres"}]},
    )

    title: Title
    description: Description = None
    completed: bool = False


# Fields the server owns that a client may send back unchanged in an update (frontends PUT the
# whole task they read). `version` is one of them, and acts as If-Match.
ECHOED_FIELDS = ("id", "user_id", "created_at", "updated_at", "version")
WRITABLE_FIELDS = ("title", "description", "completed")
_NOT_NULL = ("title", "completed", *ECHOED_FIELDS)


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
    """Only the fields sent change; at least one of title, description, completed is required.

    The task as read may be sent back whole: its server-owned fields must equal the stored
    values, and `version` works like If-Match (412 when the task has moved on).
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_update_schema)

    title: Title | None = None
    description: Description = None
    completed: bool | None = None
    id: int | None = Field(default=None, **_ECHO)
    user_id: str | None = Field(default=None, **_ECHO)
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
            raise ValueError("at least one of title, description, completed is required")
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
    created_at: datetime
    updated_at: datetime
    version: int


class TaskCounts(BaseModel):
    total: int
    completed: int
    pending: int


PAGE_MAX = 200
Status = Literal["all", "pending", "completed"]


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
        pattern=r"^[-+ ]?(created_at|updated_at|title)$",
        description="`created_at`, `updated_at` or `title`; prefix `-`/`+` to force direction.",
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
        return self.sort[0] == "-" or self.sort_key != "title"

    @property
    def normalized_sort(self) -> str:
        return ("-" if self.descending else "+") + self.sort_key
