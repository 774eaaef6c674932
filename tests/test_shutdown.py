"""SIGTERM on a real server process: not-ready first, in-flight requests finish, then exit."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import SECRET, bearer
from tests.test_cli import free_port, wait_for

pytestmark = pytest.mark.postgres_only
# Long enough that the in-flight request is still held when the test looks, on a busy CI box.
LOCK_SECONDS = 6.0


def hold_tasks_lock(database_url: str, locked: threading.Event) -> None:
    """Blocks every query on tasks for LOCK_SECONDS, from a connection of its own."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def hold() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.sleep(LOCK_SECONDS)
        finally:
            await connection.close()

    asyncio.run(hold())


def test_sigterm_reports_not_ready_refuses_new_work_and_finishes_in_flight(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "SHUTDOWN_DRAIN_SECONDS": "1",
        "SHUTDOWN_GRACE_SECONDS": "10",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from todo_api.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    in_flight: list[httpx.Response] = []
    try:
        wait_for(f"{base}/ready")
        locked = threading.Event()
        threading.Thread(target=hold_tasks_lock, args=(database_url, locked), daemon=True).start()
        assert locked.wait(5)
        slow = threading.Thread(
            target=lambda: in_flight.append(
                httpx.get(f"{base}/api/tasks", headers=bearer("alice"), timeout=30)
            )
        )
        slow.start()
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        during_drain = httpx.get(f"{base}/ready")
        time.sleep(1.2)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health")
        still_running = server.poll() is None
        slow.join(timeout=15)
        server.wait(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate()[0]

    assert during_drain.status_code == 503, output
    assert still_running, "the server must wait for the in-flight request"
    assert [r.status_code for r in in_flight] == [200], output
