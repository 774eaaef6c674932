"""users and tasks

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from todo_api.core.columns import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "tasks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Text(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "length(title) BETWEEN 1 AND 200 AND title = trim(title)", name="title_valid"
        ),
        sa.CheckConstraint(
            "description IS NULL OR length(description) BETWEEN 1 AND 1000",
            name="description_valid",
        ),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tasks_user_completed", "tasks", ["user_id", "completed"])
    op.create_index(
        "ix_tasks_user_created",
        "tasks",
        ["user_id", sa.desc("created_at"), sa.desc("id")],
    )
    op.create_index(
        "ix_tasks_user_updated",
        "tasks",
        ["user_id", sa.desc("updated_at"), sa.desc("id")],
    )
    op.create_index("ix_tasks_user_title", "tasks", ["user_id", sa.text("lower(title)"), "id"])


def downgrade() -> None:
    op.drop_table("tasks")
    op.drop_table("users")
