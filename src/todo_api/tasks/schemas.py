"""What clients may send (strict, closed) and what the API returns."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
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


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(_storable),
    Field(description="1 to 200 characters after trimming", examples=["Buy milk"]),
]
Description = Annotated[
    str | None,
    Field(max_length=DESCRIPTION_MAX, description='At most 1000 characters; "" is stored as null'),
    AfterValidator(lambda value: _storable(value) or None if value is not None else None),
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


class TaskUpdate(BaseModel):
    """Only the fields sent change; at least one is required."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"title": "Buy oat milk"}, {"completed": True}]},
    )

    title: Title | None = None
    description: Description = None
    completed: bool | None = None

    @model_validator(mode="after")
    def _some_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("at least one of title, description, completed is required")
        for name in ("title", "completed"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


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


Status = Literal["all", "pending", "completed"]


class TaskListQuery(BaseModel):
    """Query parameters of GET /api/tasks."""

    status: Status | None = Field(default=None, description="Default `all`.")
    status_filter: Status | None = Field(default=None, description="Synonym of `status`.")
    completed: bool | None = Field(
        default=None, description="`true` is `status=completed`, `false` is `status=pending`."
    )
    sort: str = Field(
        default="created_at",
        pattern=r"^[-+ ]?(created_at|updated_at|title)$",
        description="`created_at`, `updated_at` or `title`; prefix `-`/`+` to force direction.",
    )
    q: str | None = Field(default=None, max_length=200, description="Case-insensitive search.")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=1024, description="From `Link: rel=next`.")
    offset: int | None = Field(default=None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.cursor is not None and self.offset is not None:
            raise ValueError("use either cursor or offset, not both")
        if len({s for s in (self.status, self.status_filter, self._completed_status) if s}) > 1:
            raise ValueError("status, status_filter and completed disagree")
        return self

    @property
    def _completed_status(self) -> Status | None:
        return None if self.completed is None else ("completed" if self.completed else "pending")

    @property
    def effective_status(self) -> Status:
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
