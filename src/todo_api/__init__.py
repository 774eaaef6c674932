"""todo-api: the user-isolated task API behind a Better Auth Todo frontend."""

__version__ = "0.1.0"
