from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from todo_api.core.columns import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A Better Auth user, known here by id only; provisioned on the first write."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
