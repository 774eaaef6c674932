"""Start, wait for and stop the servers under test; measure CPU and memory from /proc."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
ROOT = Path(__file__).resolve().parent.parent
# PostgreSQL's own background processes, shared by every database of the server.
_PG_AUXILIARY = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "stats collector",
    "archiver",
)


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    pgrp: int
    comm: str
    start: int  # clock ticks after boot: with the pid, names one process even if pids are reused
    cpu_ticks: int  # utime + stime
    rss_bytes: int


def read_stat(pid: int) -> ProcStat | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: it ends at the last ')'.
    head, _, tail = data.rpartition(")")
    fields = tail.split()  # fields[0] is field 3 (state) of proc(5)
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        comm=head.partition("(")[2],
        start=int(fields[19]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        rss_bytes=int(fields[21]) * PAGE_BYTES,
    )


def snapshot() -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats[stat.pid] = stat
    return stats


def descendants(root: int, stats: dict[int, ProcStat]) -> set[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


class PostgresProcesses:
    """The PostgreSQL processes that work for one database: its backends and the shared ones.

    Backends of other databases (other people's tests on a shared server) are left out; the
    background writer, WAL writer, checkpointer and the postmaster are counted, since the
    benchmark's writes make them work.
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self._verdicts: dict[tuple[int, int], bool] = {}

    def __call__(self, stats: dict[int, ProcStat]) -> Iterable[int]:
        for stat in stats.values():
            if stat.comm != "postgres":
                continue
            key = (stat.pid, stat.start)
            if key not in self._verdicts:
                self._verdicts[key] = self._ours(cmdline(stat.pid))
            if self._verdicts[key]:
                yield stat.pid

    def _ours(self, title: str) -> bool:
        if not title.startswith("postgres:"):
            return True  # the postmaster: its command line is the binary's path
        words = title.removeprefix("postgres:").strip()
        return self.database in words.split() or words.startswith(_PG_AUXILIARY)


Selector = Callable[[dict[int, ProcStat]], Iterable[int]]


class CpuMeter:
    """CPU seconds used by groups of processes over a window, sampled from /proc.

    Sampled every `interval` seconds rather than only at both ends, so a process that starts
    during the window counts from zero and one that exits counts up to its last sample.
    """

    def __init__(self, groups: dict[str, Selector], interval: float = 0.25) -> None:
        self._groups = groups
        self._interval = interval
        self._first: dict[str, dict[tuple[int, int], int]] = {name: {} for name in groups}
        self._last: dict[str, dict[tuple[int, int], int]] = {name: {} for name in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def __enter__(self) -> "CpuMeter":
        self._sample(baseline=True)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(baseline=False)

    def seconds(self) -> dict[str, float]:
        return {
            name: sum(ticks - self._first[name].get(key, 0) for key, ticks in last.items())
            / CLOCK_TICKS
            for name, last in self._last.items()
        }

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample(baseline=False)

    def _sample(self, *, baseline: bool) -> None:
        stats = snapshot()
        for name, select in self._groups.items():
            for pid in select(stats):
                stat = stats[pid]
                key = (pid, stat.start)
                if baseline:
                    self._first[name][key] = stat.cpu_ticks
                self._last[name][key] = stat.cpu_ticks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One server under test, in its own session so Ctrl-C reaches it only through `stop()`."""

    def __init__(
        self, kind: str, workers: int, env: dict[str, str], workdir: Path, bin_dir: Path
    ) -> None:
        self.kind = kind
        self.workers = workers
        self.port = free_port()
        self.log_path = workdir / f"{kind}-w{workers}-{self.port}.log"
        self._env = env
        self._workdir = workdir
        address = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        if kind == "api":
            # Exactly how users run it: the installed console script.
            self._command = [str(bin_dir / "todo-api"), "serve", *address]
        else:
            self._command = [sys.executable, "-m", f"bench.{kind}", *address]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # The working directory is the run's scratch folder, so no `.env` file of the
            # checkout leaks settings into the server.
            self._process = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
                self._command,
                cwd=self._workdir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /ready answers 200 and every worker process is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the {self.kind} server exited with {self._process.returncode}:\n"
                    + self.log_tail()
                )
            if self._ready() and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the {self.kind} server was not ready in {timeout:.0f} s:\n" + self.log_tail()
        )

    def _ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/ready")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers, or the server itself."""
        stats = snapshot()
        children = [s.pid for s in stats.values() if s.ppid == self.pid]
        spawned = [pid for pid in children if "spawn_main" in cmdline(pid)]
        return spawned or ([self.pid] if self.workers == 1 else [])

    def rss_mb(self) -> list[float]:
        stats = [read_stat(pid) for pid in self.worker_pids()]
        return [round(s.rss_bytes / 2**20, 1) for s in stats if s is not None]

    def processes(self, stats: dict[int, ProcStat]) -> Iterable[int]:
        return descendants(self.pid, stats)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process)


def stop_group(process: "subprocess.Popen[bytes]", grace: float = 15.0) -> None:
    """Stop a child started with `start_new_session=True` and everything in its group.

    SIGTERM first (uvicorn then closes its workers and their pools), SIGKILL for whatever is
    still there after `grace` seconds. The group id is the child's own pid.
    """
    group = process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()
            if not any(s.pgrp == group for s in snapshot().values()):
                break
            time.sleep(0.05)
        else:
            continue
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
