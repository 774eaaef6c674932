"""Alembic migrations, shipped inside the package so `todo-api migrate` works from a wheel."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from todo_api.core.config import Settings

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to `revision`. Synchronous: call it outside a running event loop."""
    command.upgrade(alembic_config(settings), revision)
