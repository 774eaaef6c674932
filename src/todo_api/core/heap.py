"""Garbage-collector settings for a server process, applied while the app runs.

CPython's defaults suit scripts. In a server under load a young collection runs every 700 net
allocations, so it always finds the objects of the requests in flight, promotes them, and the
promotions soon trigger a full collection: a walk over every object the app built at startup
(about 127,000), 70 ms with the worker stalled. Driven in-process with the benchmark's mix,
collections took 9% of the time, two thirds of it in those full walks.

Freezing what exists once startup is done takes it out of every later collection (the app
references it for as long as the process lives anyway), and a higher young threshold means
fewer collections, so far fewer short-lived request objects are caught in flight and promoted.
Cycles are still collected, only less often (none of the request paths makes any: none showed
up under `gc.DEBUG_SAVEALL` with the benchmark's think-time load).
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


@contextmanager
def server_heap() -> Iterator[None]:
    """Freeze startup's objects and raise the young threshold; undone on exit, so an app
    started and stopped within a longer process (the tests) leaves nothing frozen."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
