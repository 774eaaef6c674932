"""Graceful shutdown: on SIGTERM the process first reports not-ready, then stops.

Load balancers poll /ready; answering 503 for a moment before the listening socket closes
lets them route new requests elsewhere, so no client meets a refused connection. uvicorn then
stops accepting and lets in-flight requests finish within the grace period.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger("todo_api")


class Lifecycle:
    def __init__(self) -> None:
        self.draining = False

    def drain_on_sigterm(self, seconds: float) -> Callable[[], None]:
        """Delay the server's own SIGTERM handling by `seconds`; returns the undo."""
        previous = signal.getsignal(signal.SIGTERM)
        # Only in front of a server's handler (uvicorn's), and only where signals can be set.
        if (
            seconds <= 0
            or not callable(previous)
            or threading.current_thread() is not threading.main_thread()
        ):
            return lambda: None
        loop = asyncio.get_running_loop()

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:
                previous(signum, frame)
                return
            self.draining = True
            logger.warning("SIGTERM: not ready, shutting down in %ss", seconds)
            loop.call_soon_threadsafe(loop.call_later, seconds, previous, signum, frame)

        def restore() -> None:
            signal.signal(signal.SIGTERM, previous)

        signal.signal(signal.SIGTERM, on_sigterm)
        return restore
