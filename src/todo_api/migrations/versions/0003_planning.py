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

# Byte order (the C collation) on PostgreSQL; SQLite compares bytes already.
POSITION_TYPE = sa.Text(collation="C").with_variant(sa.Text(), "sqlite")
CHECKS = {
    "priority_valid": "priority BETWEEN 0 AND 4",
    "one_due": "due_date IS NULL OR due_at IS NULL",
    "due_key_set": "(due_date IS NULL AND due_at IS NULL) = (due_key IS NULL)",
    "recurrence_has_due": (
        "recurrence IS NULL OR (series_start IS NOT NULL AND due_key IS NOT NULL)"
    ),
}

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Columns are added in place on both databases: on SQLite a batch rebuild of `tasks` would
    # lose what SQLite cannot reflect (AUTOINCREMENT, the lower(title) index, DESC orders).
    empty_list = sa.text("'[]'") if sqlite else sa.text("'{}'")
    op.add_column("users", sa.Column("time_zone", sa.Text(), server_default="UTC", nullable=False))
    op.add_column(
        "users", sa.Column("tops_issued", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "tasks", sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.add_column("tasks", sa.Column("due_date", sa.Date(), nullable=True))
    op.add_column("tasks", sa.Column("due_at", UTCDateTime(), nullable=True))
    op.add_column("tasks", sa.Column("due_key", UTCDateTime(), nullable=True))
    for name in ("tags", "tag_keys", "reminders"):
        op.add_column(
            "tasks", sa.Column(name, TextList(), server_default=empty_list, nullable=False)
        )
    op.add_column("tasks", sa.Column("recurrence", sa.String(500), nullable=True))
    op.add_column("tasks", sa.Column("series_start", sa.Text(), nullable=True))
    # SQLite adds a NOT NULL column only with a default; every row gets its place below.
    op.add_column(
        "tasks",
        sa.Column(
            "position", POSITION_TYPE, server_default="" if sqlite else None, nullable=not sqlite
        ),
    )
    op.add_column("tasks", sa.Column("completed_at", UTCDateTime(), nullable=True))
    _place_existing_tasks()
    if not sqlite:
        # SQLite cannot add constraints to a table in place; the API enforces the same rules.
        op.alter_column("tasks", "position", existing_type=POSITION_TYPE, nullable=False)
        for name, condition in CHECKS.items():
            op.create_check_constraint(name, "tasks", condition)
        # A trusted extension (PostgreSQL 13+, Neon included): the database owner may add it.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index("ix_tasks_user_due", "tasks", ["user_id", "due_key", "id"])
    op.create_index(
        "ix_tasks_user_priority", "tasks", ["user_id", sa.desc("priority"), sa.desc("id")]
    )
    op.create_index("ix_tasks_user_position", "tasks", ["user_id", "position"], unique=True)
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
    if op.get_bind().dialect.name != "sqlite":
        for constraint in CHECKS:
            op.drop_constraint(constraint, "tasks", type_="check")
    with op.batch_alter_table("tasks") as tasks:
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
