"""The load generator: wrk (Debian's package) driven by bench/lua/mix.lua."""

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .servers import stop_group

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "mix.lua"
RESULT_MARKER = "BENCH_RESULT "
# A request slower than this is a timeout (wrk's own definition: its latency histogram ends
# here). Well above the 1 s think time, so a waiting connection is never counted.
TIMEOUT_SECONDS = 10


class WrkMissing(SystemExit):
    pass


def ensure_wrk() -> str:
    """wrk's path; installed from Debian when missing and we are root, else a clear stop."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise WrkMissing(
            "bench: the load generator wrk is missing: install it with "
            "`sudo apt-get install -y wrk` (Debian/Ubuntu) and run again."
        )
    print("Installing wrk with apt-get ...", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=environment, check=False).returncode != 0:  # noqa: S603
        # A fresh container has no package lists yet.
        subprocess.run([apt, "update", "-q"], env=environment, check=False)  # noqa: S603
        subprocess.run(install, env=environment, check=False)  # noqa: S603
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("bench: `apt-get install -y wrk` did not install wrk; install it by hand.")
    return found


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    latency_ms: dict[str, float]  # p50, p75, p90, p95, p99, p999, max, mean
    errors: dict[str, int]  # wrk's socket errors: connect, read, write, timeout (+ status >399)
    statuses: dict[str, int]
    kinds: dict[str, int]
    non_2xx: int
    wrk_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def socket_errors(self) -> int:
        return self.errors["connect"] + self.errors["read"] + self.errors["write"]


def run(
    wrk: str,
    *,
    url: str,
    connections: int,
    duration_s: float,
    think_ms: int,
    data_file: Path,
    threads: int = 1,
    seed: int = 1,
) -> WrkResult:
    threads = max(1, min(threads, connections))
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        f"--script={LUA_SCRIPT}",
        url,
        "--",
        f"data={data_file}",
        f"think={think_ms}",
        f"conns={connections // threads}",
        f"seed={seed}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=duration_s + 60)
    except BaseException:
        # Ctrl-C or a hung wrk: never leave it running.
        stop_group(process, grace=2.0)
        raise
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # wrk is the only child reaped in this window (the servers are still running).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = stdout.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith(RESULT_MARKER)), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed (exit {process.returncode}):\n{text}\n{stderr.decode(errors='replace')}"
        )
    data: dict[str, Any] = json.loads(line.removeprefix(RESULT_MARKER))
    latency = {key: value / 1000 for key, value in data["latency_us"].items()}
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        latency_ms=latency,
        errors={key: int(value) for key, value in data["errors"].items()},
        statuses={key: int(value) for key, value in data["statuses"].items()},
        kinds={key: int(value) for key, value in data["kinds"].items()},
        non_2xx=int(data["non_2xx"]),
        wrk_cpu_s=cpu,
    )
