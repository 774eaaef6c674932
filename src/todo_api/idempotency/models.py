from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from todo_api.core.columns import UTCDateTime, utcnow


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a keyed POST, replayed to retries for 24 hours."""

    __tablename__ = "idempotency_keys"

    user_id: str = Field(
        sa_column=Column(
            Text, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    key: str = Field(primary_key=True, sa_type=String(255))
    fingerprint: str = Field(sa_type=String(64))
    status_code: int
    response: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


Index("ix_idempotency_keys_created", IdempotencyRecord.__table__.c.created_at)  # type: ignore[attr-defined]
