"""planning: priority, dues, tags, recurrence, reminders, manual order, time zones

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from todo_api.core.columns import TextList, UTCDateTime
from todo_api.tasks.positions import top_position

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    empty_list = sa.text("'[]'") if sqlite else sa.text("'{}'")
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("time_zone", sa.Text(), server_default="UTC", nullable=False))
        users.add_column(
            sa.Column("tops_issued", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("tasks") as tasks:
        tasks.add_column(
            sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
        )
        tasks.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        tasks.add_column(sa.Column("due_at", UTCDateTime(), nullable=True))
        tasks.add_column(sa.Column("due_key", UTCDateTime(), nullable=True))
        for name in ("tags", "tag_keys", "reminders"):
            tasks.add_column(sa.Column(name, TextList(), server_default=empty_list, nullable=False))
        tasks.add_column(sa.Column("recurrence", sa.String(500), nullable=True))
        tasks.add_column(sa.Column("series_start", sa.Text(), nullable=True))
        tasks.add_column(sa.Column("position", sa.Text(), nullable=True))
        tasks.add_column(sa.Column("completed_at", UTCDateTime(), nullable=True))
    _place_existing_tasks()
    with op.batch_alter_table("tasks") as tasks:
        tasks.alter_column("position", existing_type=sa.Text(), nullable=False)
        tasks.create_check_constraint("priority_valid", "priority BETWEEN 0 AND 4")
        tasks.create_check_constraint("one_due", "due_date IS NULL OR due_at IS NULL")
        tasks.create_check_constraint(
            "due_key_set", "(due_date IS NULL AND due_at IS NULL) = (due_key IS NULL)"
        )
        tasks.create_check_constraint(
            "recurrence_has_due",
            "recurrence IS NULL OR (series_start IS NOT NULL AND due_key IS NOT NULL)",
        )
    op.create_index("ix_tasks_user_due", "tasks", ["user_id", "due_key", "id"])
    op.create_index(
        "ix_tasks_user_priority", "tasks", ["user_id", sa.desc("priority"), sa.desc("id")]
    )
    op.create_index("ix_tasks_user_position", "tasks", ["user_id", "position"], unique=True)
    if not sqlite:
        # A trusted extension (PostgreSQL 13+, Neon included): the database owner may add it.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        "ix_tasks_user_tag_keys", "tasks", ["user_id", "tag_keys"], postgresql_using="gin"
    )


def _place_existing_tasks() -> None:
    """Existing tasks keep their default order in the manual one (newest first), and a task
    completed before completion times were kept is taken as completed at its last change."""
    bind = op.get_bind()
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE completed")
    rows = bind.execute(sa.text("SELECT user_id, id FROM tasks ORDER BY user_id, created_at, id"))
    issued: dict[str, int] = {}
    for user_id, task_id in rows.all():
        issued[user_id] = issued.get(user_id, 0) + 1
        bind.execute(
            sa.text("UPDATE tasks SET position = :position WHERE id = :id"),
            {"position": top_position(issued[user_id]), "id": task_id},
        )
    for user_id, count in issued.items():
        bind.execute(
            sa.text("UPDATE users SET tops_issued = :count WHERE id = :id"),
            {"count": count, "id": user_id},
        )


def downgrade() -> None:
    for index in (
        "ix_tasks_user_tag_keys",
        "ix_tasks_user_position",
        "ix_tasks_user_priority",
        "ix_tasks_user_due",
    ):
        op.drop_index(index, "tasks")
    with op.batch_alter_table("tasks") as tasks:
        for constraint in ("recurrence_has_due", "due_key_set", "one_due", "priority_valid"):
            tasks.drop_constraint(constraint, type_="check")
        for column in (
            "completed_at",
            "position",
            "series_start",
            "recurrence",
            "reminders",
            "tag_keys",
            "tags",
            "due_key",
            "due_at",
            "due_date",
            "priority",
        ):
            tasks.drop_column(column)
    with op.batch_alter_table("users") as users:
        users.drop_column("tops_issued")
        users.drop_column("time_zone")
