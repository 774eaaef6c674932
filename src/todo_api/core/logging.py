import logging


def configure_logging(level: str) -> None:
    """Our loggers at the configured level; the handler is uvicorn's or the root's."""
    logging.getLogger("todo_api").setLevel(level.upper())
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
