from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlmodel import Field, SQLModel

from todo_api.core.columns import UTCDateTime, utcnow

TITLE_MAX = 200
DESCRIPTION_MAX = 1000


class Task(SQLModel, table=True):
    """A task row. Never a request or response body: see schemas.py for those."""

    __tablename__ = "tasks"
    __table_args__ = (
        # The database holds the same rules as the request schemas, so no other writer
        # (a migration, a psql session, a future bug) can store what the API would refuse.
        CheckConstraint(
            f"length(title) BETWEEN 1 AND {TITLE_MAX} AND title = trim(title)", name="title_valid"
        ),
        CheckConstraint(
            f"description IS NULL OR length(description) BETWEEN 1 AND {DESCRIPTION_MAX}",
            name="description_valid",
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        # Never reuse a deleted task's id on SQLite (PostgreSQL identities never do).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
        ),
    )
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", sa_type=Text)
    title: str = Field(sa_type=String(TITLE_MAX))
    description: str | None = Field(default=None, sa_type=String(DESCRIPTION_MAX))
    completed: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = 1


_columns = Task.__table__.c  # type: ignore[attr-defined]
# One index per listing order; each serves its status filter and its keyset pages.
Index("ix_tasks_user_completed", _columns.user_id, _columns.completed)
Index("ix_tasks_user_created", _columns.user_id, _columns.created_at.desc(), _columns.id.desc())
Index("ix_tasks_user_updated", _columns.user_id, _columns.updated_at.desc(), _columns.id.desc())
Index("ix_tasks_user_title", _columns.user_id, func.lower(_columns.title), _columns.id)
