from datetime import datetime

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel

from todo_api.core.columns import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A Better Auth user, known here by id only; provisioned on the first write."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    time_zone: str = Field(default="UTC", sa_type=Text, sa_column_kwargs={"server_default": "UTC"})
    # How many places at the top of the manual order were handed out: each new first place
    # (a create, a move to the top) takes the next, under this row's lock, so none repeats.
    tops_issued: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )
