"""The collector settings a running app applies, and gives back when it stops."""

import gc
import weakref

import pytest

from tests.conftest import running
from todo_api.core.config import Settings
from todo_api.core.heap import YOUNG_THRESHOLD

pytestmark = pytest.mark.anyio


class Node:
    partner: "Node"


async def test_a_running_app_freezes_startup_objects_and_collects_less_often(
    settings: Settings,
) -> None:
    defaults = gc.get_threshold()

    async with running(settings):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *defaults[1:])

    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == defaults


async def test_cycles_from_before_startup_are_collected_once_the_app_stops(
    settings: Settings,
) -> None:
    first, second = Node(), Node()
    first.partner, second.partner = second, first
    gone = weakref.ref(first)
    del first, second

    async with running(settings):
        gc.collect()
        frozen_while_running = gone() is not None
    gc.collect()

    assert frozen_while_running
    assert gone() is None
