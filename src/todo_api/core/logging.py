"""Structured logs: one JSON object per line, for people and log pipelines alike."""

import json
import logging
import math
import sys
import time
from typing import Any

# Attributes every LogRecord has; anything else was passed with `extra=` and is a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Built once: json.dumps with any option set constructs a new encoder on every call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class _Timestamps:
    """RFC 3339 UTC times to the millisecond, as datetime.isoformat writes them. The date and
    time of day change once a second, so they are formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._second_text = ""

    def format(self, created: float) -> str:
        # Rounded to microseconds, then cut to milliseconds, as datetime.isoformat does.
        fraction, whole = math.modf(created)
        second, micros = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{micros // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._timestamps = _Timestamps()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._timestamps.format(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class AccessLog:
    """One JSON line per request, the same line JsonFormatter would write for a `todo_api.access`
    record, written to stderr directly: a LogRecord and its trip through the logging
    machinery (caller lookup, handler locks) would cost several times the line itself."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("todo_api.access")
        self._timestamps = _Timestamps()

    def write(
        self,
        *,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        user_id: str | None,
        request_id: str,
    ) -> None:
        if not self._logger.isEnabledFor(logging.INFO):  # LOG_LEVEL above INFO
            return
        entry = {
            "time": self._timestamps.format(time.time()),
            "level": "info",
            "logger": "todo_api.access",
            "message": f"{method} {path} {status}",
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": user_id,
            "request_id": request_id,
        }
        # Looked up per line, so a redirected stderr (a test capturing it) is honoured.
        sys.stderr.write(_ENCODER.encode(entry) + "\n")


def configure_logging(level: str) -> None:
    """Our loggers write JSON lines to stderr at the configured level."""
    logger = logging.getLogger("todo_api")
    logger.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    # Our own handler writes these; the root logger (pytest, uvicorn) would print them twice.
    logger.propagate = False
