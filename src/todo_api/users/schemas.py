from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from todo_api.tasks.dues import is_zone
from todo_api.tasks.schemas import TaskCounts


def _known_zone(name: str) -> str:
    if not is_zone(name):
        raise ValueError("must be an IANA time zone name, such as Europe/Berlin")
    return name


TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        examples=["Europe/Berlin"],
        description="An IANA time zone name, as a browser reports it "
        "(`Intl.DateTimeFormat().resolvedOptions().timeZone`); an unknown name is 422.",
    ),
    AfterValidator(_known_zone),
]


class Me(BaseModel):
    """The caller as this API sees them."""

    user_id: str
    time_zone: str = Field(description="IANA name; today and overdue are computed in it.")
    tasks: TaskCounts


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    time_zone: TimeZone
