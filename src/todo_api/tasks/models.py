from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlmodel import Field, SQLModel

from todo_api.core.columns import TextList, UTCDateTime, utcnow

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
RECURRENCE_MAX = 500
POSITION_TYPE = Text(collation="C").with_variant(Text(), "sqlite")  # SQLite: bytes already
# Stored as a rank, so `sort=priority` is an index order; the API speaks the names.
PRIORITIES = ("none", "low", "medium", "high", "urgent")


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
        CheckConstraint(f"priority BETWEEN 0 AND {len(PRIORITIES) - 1}", name="priority_valid"),
        CheckConstraint("due_date IS NULL OR due_at IS NULL", name="one_due"),
        CheckConstraint(
            "(due_date IS NULL AND due_at IS NULL) = (due_key IS NULL)", name="due_key_set"
        ),
        CheckConstraint(
            "recurrence IS NULL OR (series_start IS NOT NULL AND due_key IS NOT NULL)",
            name="recurrence_has_due",
        ),
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
    priority: int = Field(default=0, sa_type=SmallInteger, sa_column_kwargs={"server_default": "0"})
    due_date: date | None = Field(default=None, sa_type=Date)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The instant the due sorts and filters by: `due_at`, or 00:00 of `due_date` in the
    # owner's time zone (kept current when they change zones). SQLite has no zones, and a
    # stored instant is an index range on both databases.
    due_key: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tags: list[str] = Field(default_factory=list, sa_type=TextList)
    # The tags casefolded, for case-insensitive matching by index.
    tag_keys: list[str] = Field(default_factory=list, sa_type=TextList)
    recurrence: str | None = Field(default=None, sa_type=String(RECURRENCE_MAX))
    # The series' first occurrence (RFC 5545 DTSTART): an ISO date or UTC time.
    series_start: str | None = Field(default=None, sa_type=Text)
    reminders: list[str] = Field(default_factory=list, sa_type=TextList)
    # Byte order whatever the database's collation (en_US would order `V` after `l`).
    position: str = Field(sa_type=POSITION_TYPE)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = 1


_columns = Task.__table__.c  # type: ignore[attr-defined]
# One index per listing order; each serves its status filter and its keyset pages.
Index("ix_tasks_user_completed", _columns.user_id, _columns.completed)
Index("ix_tasks_user_created", _columns.user_id, _columns.created_at.desc(), _columns.id.desc())
Index("ix_tasks_user_updated", _columns.user_id, _columns.updated_at.desc(), _columns.id.desc())
Index("ix_tasks_user_title", _columns.user_id, func.lower(_columns.title), _columns.id)
Index("ix_tasks_user_due", _columns.user_id, _columns.due_key, _columns.id)
Index("ix_tasks_user_priority", _columns.user_id, _columns.priority.desc(), _columns.id.desc())
# Unique: whatever a bug might compute, two of a user's tasks never share a place.
Index("ix_tasks_user_position", _columns.user_id, _columns.position, unique=True)
# GIN on PostgreSQL for `tag_keys @> ...`, with the owner in it (btree_gin), so a tag's
# lookup reads the owner's tasks only, not every user's (on SQLite a plain index).
Index("ix_tasks_user_tag_keys", _columns.user_id, _columns.tag_keys, postgresql_using="gin")
