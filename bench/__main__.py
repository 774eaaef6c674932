"""`./dev bench`: load-test todo-api against its floor and report the numbers.

Creates a throwaway PostgreSQL database (dropped at the end, also on Ctrl-C), seeds 1000 users
with 20 tasks each, starts the API as users run it (`todo-api serve`, production settings) and
the floor (bench/floor.py), and with --stack the API's bare stack (bench/stack.py), drives them
with wrk, alternating, and writes JSON, Markdown and a PNG chart to bench/results/. See
docs/performance.md.
"""

import argparse
import asyncio
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import agree, database, pages, report, wrk
from .report import API, FLOOR, SERVERS, STACK, Measurement
from .servers import ROOT, CpuMeter, PostgresProcesses, Selector, Server
from .workload import LOADS, MIX, Load, mint, new_secret, write_lua_data

RESULTS_DIR = ROOT / "bench" / "results"
WORK_DIR = ROOT / "bench" / ".work"  # git-ignored scratch: the token file, server logs
# Every variable the API's Settings read: the servers get only what the benchmark sets.
SETTINGS_PREFIXES = ("ENVIRONMENT", "LOG_LEVEL", "DATABASE_", "BETTER_AUTH_", "JWT_", "JWKS_")
CONNECTION_RESERVE = 20  # PostgreSQL connections left for everyone else on the server
POOL_TIMEOUT_S = 3  # the API's default DATABASE_POOL_TIMEOUT; the floor waits as long
WARMUP_CONNECTIONS = 50
AGREEMENT_USERS = 50  # users whose lists every server must answer alike
OPEN_FILES = 65536


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool
    duration_s: float
    rounds: int
    targets: tuple[str, ...]
    loads: tuple[str, ...]
    workers: int
    pool_size: int
    max_overflow: int
    wrk_threads: int
    walks: int
    warmup_s: float
    results_dir: Path
    plan_only: bool


def parse_args(argv: list[str] | None) -> Options:
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        prog="./dev bench",
        description=(
            "Load benchmark of todo-api against a minimal raw-ASGI server (the floor) doing "
            "the same SQL: closed loops at c=100 (1 worker) and c=1000, 1000 users with 1 s "
            "think time, and paging through 1000 tasks. Needs PostgreSQL "
            "(BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres) and "
            "wrk (installed with apt-get when missing and running as root)."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 5 s per load, 1 round (~1-2 min)"
    )
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="per load and server (default 30)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per load, the servers alternating (default 3)"
    )
    parser.add_argument("--only", choices=SERVERS, help="measure one server only")
    parser.add_argument(
        "--stack",
        action="store_true",
        help="also measure bench/stack.py: the API's stack with none of its features",
    )
    parser.add_argument(
        "--loads",
        default=",".join(LOADS),
        help=f"comma-separated subset of {','.join(LOADS)} (default all)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=cpus,
        help=f"worker processes for every load but c100 (default: CPU count, {cpus})",
    )
    parser.add_argument(
        "--pool-size", type=int, default=15, help="DATABASE_POOL_SIZE per API worker (default 15)"
    )
    parser.add_argument(
        "--max-overflow",
        type=int,
        default=0,
        help="DATABASE_MAX_OVERFLOW per API worker (default 0); the floor's pool is the same",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--walks", type=int, help="paging test: full walks of 5 pages per server (default 20)"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="default bench/results"
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the steps and the estimated time, run nothing"
    )
    args = parser.parse_args(argv)
    loads = tuple(name.strip() for name in args.loads.split(",") if name.strip())
    unknown = [name for name in loads if name not in LOADS]
    if unknown or not loads:
        parser.error(f"--loads: unknown {', '.join(unknown) or 'empty'}; choose from {list(LOADS)}")
    for name in ("duration", "rounds", "workers", "wrk_threads", "walks"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return Options(
        quick=args.quick,
        duration_s=args.duration or (5.0 if args.quick else 30.0),
        rounds=args.rounds or (1 if args.quick else 3),
        targets=(args.only,) if args.only else (API, STACK, FLOOR) if args.stack else (API, FLOOR),
        loads=tuple(name for name in LOADS if name in loads),
        workers=args.workers,
        pool_size=args.pool_size,
        max_overflow=args.max_overflow,
        wrk_threads=args.wrk_threads,
        walks=args.walks or (5 if args.quick else 20),
        warmup_s=2.0 if args.quick else 3.0,
        results_dir=args.results_dir,
        plan_only=args.plan,
    )


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    estimate_s: float
    action: Callable[[], None]


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Bench:
    def __init__(self, options: Options, wrk_path: str) -> None:
        self.options = options
        self.wrk_path = wrk_path
        self.server_url = database.server_url()
        self.bin_dir = Path(sys.executable).parent
        self.workdir = WORK_DIR / f"run-{secrets.token_hex(4)}"
        self.secret = new_secret()
        self.database_name: str | None = None
        self.database_url = ""
        self.seed: database.Seed | None = None
        self.data_file = self.workdir / "users.lua"
        self.servers: dict[str, Server] = {}
        self.measurements: list[Measurement] = []
        self.postgres: PostgresProcesses | None = None
        self.pool_size = options.pool_size
        self.max_overflow = options.max_overflow
        self.postgres_limits = (0, 0)
        self.started = datetime.now(UTC)
        self.groups: dict[int, list[Load]] = {}
        for name in options.loads:
            load = LOADS[name]
            workers = options.workers if load.default_workers else 1
            self.groups.setdefault(workers, []).append(load)
        self.groups = dict(sorted(self.groups.items()))

    # -- before anything starts -------------------------------------------------------------

    def preflight(self) -> None:
        """PostgreSQL reachable, and pools sized to fit under its max_connections."""
        try:
            limit, in_use = asyncio.run(database.server_facts(self.server_url))
        except Exception as error:  # asyncpg raises many types; each means the same here
            raise SystemExit(
                f"bench: cannot reach PostgreSQL at {_masked(self.server_url)} ({error}); "
                "start it or set BENCH_DATABASE_URL."
            ) from None
        self.postgres_limits = (limit, in_use)
        servers_at_once = len(self.options.targets) * max(self.groups)
        available = limit - in_use - CONNECTION_RESERVE
        if servers_at_once * (self.pool_size + self.max_overflow) > available:
            per_worker = available // servers_at_once
            if per_worker < 2:
                raise SystemExit(
                    f"bench: PostgreSQL has {limit - in_use} free connections; "
                    f"{servers_at_once} worker processes need at least 2 each (plus "
                    f"{CONNECTION_RESERVE} left for others)."
                )
            # Shrunk in proportion, so the share of overflow connections stays the same.
            total = self.pool_size + self.max_overflow
            self.pool_size = max(1, per_worker * self.pool_size // total)
            self.max_overflow = per_worker - self.pool_size
            print(
                f"Pools shrunk to {self.pool_size}+{self.max_overflow} per worker to fit "
                f"PostgreSQL's max_connections={limit} ({in_use} in use)."
            )

    @property
    def pool(self) -> dict[str, int]:
        return {
            "api_pool_size": self.pool_size,
            "api_max_overflow": self.max_overflow,
            "floor_min": self.pool_size,
            "floor_max": self.pool_size + self.max_overflow,
            "pool_timeout_s": POOL_TIMEOUT_S,
        }

    # -- the plan -----------------------------------------------------------------------------

    def plan(self) -> list[Step]:
        o = self.options
        steps = [Step("create database, migrate, seed 1000 users x 20 tasks", 4, self.setup)]
        for workers, loads in self.groups.items():
            plural = "s" if workers != 1 else ""
            steps.append(
                Step(
                    f"start {' and '.join(o.targets)} with {workers} worker{plural}",
                    1 + workers,
                    partial(self.start_servers, workers),
                )
            )
            steps.append(Step("warm up", len(o.targets) * (o.warmup_s + 0.5), self.warm_up))
            for load in loads:
                for round_ in range(1, o.rounds + 1):
                    for target in o.targets:
                        estimate = (
                            o.walks * 0.1 + 0.3 if load.name == "pages" else o.duration_s + 0.5
                        )
                        steps.append(
                            Step(
                                f"{load.name} round {round_}/{o.rounds}: {target} "
                                f"({load.title}, {workers} worker{plural})",
                                estimate,
                                partial(self.measure, load, target, round_, workers),
                            )
                        )
            steps.append(Step("stop servers", 1, self.stop_servers))
        steps.append(Step("write results", 2, self.write_results))
        return steps

    def run(self, steps: list[Step]) -> None:
        began = time.monotonic()
        estimated_done = 0.0
        for index, step in enumerate(steps, 1):
            elapsed = time.monotonic() - began
            # Scale what is left by how the estimates have held so far (within reason).
            drift = min(2.0, max(0.7, elapsed / estimated_done)) if estimated_done > 10 else 1.0
            left = sum(s.estimate_s for s in steps[index - 1 :]) * drift
            print(
                f"[{index:>2}/{len(steps)}] {_clock(elapsed)} elapsed, ~{_clock(left)} left  "
                f"{step.label}",
                flush=True,
            )
            step.action()
            estimated_done += step.estimate_s

    # -- the steps ----------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
        return {
            **base,
            "ENVIRONMENT": "production",
            "DATABASE_URL": self.database_url,
            "BETTER_AUTH_SECRET": self.secret,
        }

    def setup(self) -> None:
        self.workdir.mkdir(parents=True)
        self.database_name = asyncio.run(database.create(self.server_url))
        self.database_url = database.with_database(self.server_url, self.database_name)
        database.migrate(
            self.database_url, self.bin_dir / "todo-api", self._environment(), self.workdir
        )
        self.seed = asyncio.run(database.seed(self.database_url))
        write_lua_data(self.data_file, self.seed, self.secret)
        host = urlsplit(self.server_url).hostname or ""
        if host in {"", "127.0.0.1", "localhost", "::1"} or host.startswith("/"):
            self.postgres = PostgresProcesses(self.database_name)
        else:
            print(f"      PostgreSQL is not on this machine ({host}): no PG CPU figures.")
        tasks = sum(map(len, self.seed.task_ids.values())) + database.PAGER_TASKS
        print(f"      database {self.database_name}: {tasks} tasks")

    def start_servers(self, workers: int) -> None:
        environment = self._environment()
        api_pool = {
            "DATABASE_POOL_SIZE": str(self.pool_size),
            "DATABASE_MAX_OVERFLOW": str(self.max_overflow),
            "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_S),
        }
        # The floor and the stack run from the checkout (`python -m bench.<name>`).
        checkout = {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            )
        }
        envs = {
            API: {**environment, **api_pool},
            STACK: {**environment, **api_pool, **checkout},
            FLOOR: {
                **environment,
                **checkout,
                "FLOOR_POOL_MIN": str(self.pool_size),
                "FLOOR_POOL_MAX": str(self.pool_size + self.max_overflow),
                "FLOOR_POOL_TIMEOUT": str(POOL_TIMEOUT_S),
            },
        }
        for target in self.options.targets:
            server = Server(target, workers, envs[target], self.workdir, self.bin_dir)
            self.servers[target] = server
            server.start()
        for server in self.servers.values():
            server.wait_ready()
        ports = ", ".join(f"{t} on 127.0.0.1:{s.port}" for t, s in self.servers.items())
        print(f"      ready: {ports}")

    def warm_up(self) -> None:
        """Open the pools, fill the statement caches, check the tokens work and that every
        server answers the mix's lists as the API does."""
        for target, server in self.servers.items():
            result = wrk.run(
                self.wrk_path,
                url=f"http://127.0.0.1:{server.port}",
                connections=WARMUP_CONNECTIONS,
                duration_s=self.options.warmup_s,
                think_ms=0,
                data_file=self.data_file,
                threads=self.options.wrk_threads,
            )
            if result.requests == 0 or result.non_2xx > result.requests // 2:
                raise RuntimeError(
                    f"{target} answers the warm-up mostly with errors: statuses "
                    f"{result.statuses}, socket errors {result.errors}\n{server.log_tail()}"
                )
        self._reset()
        self._check_agreement()

    def _check_agreement(self) -> None:
        assert self.seed is not None
        if len(self.servers) < 2 or API not in self.servers:
            return
        users = list(self.seed.task_ids)[:AGREEMENT_USERS]
        differences, tasks = agree.compare(
            {target: server.port for target, server in self.servers.items()},
            API,
            {user: mint(user, self.secret) for user in users},
        )
        if differences:
            shown = "\n".join(differences[:10])
            raise RuntimeError(
                f"the servers answer the mix's lists differently ({len(differences)} "
                f"differences):\n{shown}"
            )
        found = ", ".join(f"{path} {n:.1f}" for path, n in tasks.items())
        print(f"      every server answers alike for {len(users)} users; tasks per list: {found}")

    def _reset(self) -> None:
        assert self.seed is not None
        asyncio.run(database.reset(self.database_url, self.seed))

    def measure(self, load: Load, target: str, round_: int, workers: int) -> None:
        server = self.servers[target]
        if load.name == "pages":
            measurement = self._pages(server, target, round_, workers)
        else:
            self._reset()
            groups: dict[str, Selector] = {"server": server.processes}
            if self.postgres is not None:
                groups["postgres"] = self.postgres
            with CpuMeter(groups) as meter:
                result = wrk.run(
                    self.wrk_path,
                    url=f"http://127.0.0.1:{server.port}",
                    connections=load.connections,
                    duration_s=self.options.duration_s,
                    think_ms=load.think_ms,
                    data_file=self.data_file,
                    threads=self.options.wrk_threads,
                    seed=round_,
                )
            cpu = meter.seconds()
            latency = result.latency_ms
            measurement = Measurement(
                load=load.name,
                target=target,
                round=round_,
                workers=workers,
                connections=load.connections,
                think_ms=load.think_ms,
                duration_s=result.duration_s,
                requests=result.requests,
                rps=result.rps,
                p50_ms=latency["p50"],
                p95_ms=latency["p95"],
                p99_ms=latency["p99"],
                max_ms=latency["max"],
                errors=result.socket_errors,
                timeouts=result.errors["timeout"],
                non_2xx=result.non_2xx,
                statuses=result.statuses,
                kinds=result.kinds,
                server_cpu_s=cpu["server"],
                postgres_cpu_s=cpu.get("postgres"),
                wrk_cpu_s=result.wrk_cpu_s,
                rss_mb=server.rss_mb(),
            )
        self.measurements.append(measurement)
        m = measurement
        cores = "" if m.server_cores is None else f", server {m.server_cores:.2f} cores"
        rss = f", RSS {'/'.join(f'{mb:.0f}' for mb in m.rss_mb)} MB" if m.rss_mb else ""
        print(
            f"      {m.rps:.0f} {'pages' if load.name == 'pages' else 'req'}/s, "
            f"p50 {m.p50_ms:.2f} p95 {m.p95_ms:.2f} p99 {m.p99_ms:.2f} ms, "
            f"{m.errors} errors, {m.timeouts} timeouts, {m.non_2xx} non-2xx{cores}{rss}",
            flush=True,
        )

    def _pages(self, server: Server, target: str, round_: int, workers: int) -> Measurement:
        assert self.seed is not None
        result = pages.walk(server.port, mint(self.seed.pager_id, self.secret), self.options.walks)
        if result.tasks_per_walk != database.PAGER_TASKS:
            print(
                f"      warning: a walk saw {result.tasks_per_walk} tasks in "
                f"{result.pages_per_walk} pages, not {database.PAGER_TASKS}"
            )
        latencies = result.latencies_ms
        return Measurement(
            load="pages",
            target=target,
            round=round_,
            workers=workers,
            connections=1,
            think_ms=0,
            duration_s=result.duration_s,
            requests=len(latencies),
            rps=len(latencies) / result.duration_s,
            p50_ms=_percentile(latencies, 50),
            p95_ms=_percentile(latencies, 95),
            p99_ms=_percentile(latencies, 99),
            max_ms=max(latencies),
            errors=result.failures,
            timeouts=0,
            non_2xx=result.failures,
            rss_mb=server.rss_mb(),
        )

    def stop_servers(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def write_results(self) -> None:
        o = self.options
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        stem = f"{stamp}-quick-smoke" if o.quick else stamp
        text, paths = report.write(o.results_dir, stem, self.meta(), self.measurements)
        print()
        print(text)
        print()
        shown = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths]
        print("Results: " + ", ".join(shown))

    def meta(self) -> dict[str, Any]:
        o = self.options
        limit, in_use = self.postgres_limits
        return {
            "started": self.started.strftime("%Y-%m-%d %H:%M UTC"),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": o.quick,
            "commit": _git_commit(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wrk": _wrk_version(self.wrk_path),
            "wrk_threads": o.wrk_threads,
            "wrk_timeout_s": wrk.TIMEOUT_SECONDS,
            "rounds": o.rounds,
            "duration_s": o.duration_s,
            "loads": {
                name: {
                    "title": LOADS[name].title,
                    "connections": LOADS[name].connections,
                    "think_ms": LOADS[name].think_ms,
                    "workers": o.workers if LOADS[name].default_workers else 1,
                }
                for name in o.loads
            },
            "page_walks": o.walks,
            "mix": MIX,
            "pool": self.pool,
            "postgres": {
                "server": _masked(self.server_url),
                "max_connections": limit,
                "connections_in_use_at_start": in_use,
            },
            "seed": {
                "users": database.USER_COUNT,
                "tasks_per_user": database.TASKS_PER_USER,
                "pager_tasks": database.PAGER_TASKS,
            },
        }

    # -- always, at the end -------------------------------------------------------------------

    def cleanup(self) -> None:
        self.stop_servers()
        if self.database_name is not None:
            try:
                asyncio.run(database.drop(self.server_url, self.database_name))
            except Exception as error:  # still tell the user what is left behind
                print(
                    f"bench: could not drop database {self.database_name} ({error}); "
                    f'drop it by hand: DROP DATABASE "{self.database_name}" WITH (FORCE)',
                    file=sys.stderr,
                )
        shutil.rmtree(self.workdir, ignore_errors=True)


def _git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    result = subprocess.run(  # noqa: S603
        [git, "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _wrk_version(path: str) -> str:
    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return (result.stdout.split("[")[0] or "unknown").strip()


def _raise_open_file_limit() -> None:
    """1000 connections are 1000 descriptors in wrk and in the servers (children inherit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    if ceiling < 2500:
        print(f"warning: the open-file limit is {ceiling}; 1000 connections need about 2500.")


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.plan_only:
        steps = Bench(options, "wrk").plan()
        for index, step in enumerate(steps, 1):
            print(f"[{index:>2}/{len(steps)}] ~{_clock(step.estimate_s)}  {step.label}")
        print(f"estimated total: about {_clock(sum(s.estimate_s for s in steps))} (min:s)")
        return 0
    _raise_open_file_limit()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    wrk_path = wrk.ensure_wrk()
    bench = Bench(options, wrk_path)
    bench.preflight()
    steps = bench.plan()
    total = sum(step.estimate_s for step in steps)
    workers = ", ".join(
        f"{'/'.join(load.name for load in loads)} with {w}" for w, loads in bench.groups.items()
    )
    limit, in_use = bench.postgres_limits
    print(
        f"todo-api benchmark{' (quick smoke run)' if options.quick else ''}: "
        f"{' vs '.join(options.targets)}, {options.rounds} round(s) of "
        f"{options.duration_s:.0f} s per load\n"
        f"  workers: {workers}; pools per worker: API (and stack) "
        f"{bench.pool_size}+{bench.max_overflow}, "
        f"floor {bench.pool_size}..{bench.pool_size + bench.max_overflow} "
        f"(PostgreSQL max_connections {limit}, {in_use} in use)\n"
        f"  estimated total: about {_clock(total)} (min:s)",
        flush=True,
    )
    code = 0
    try:
        bench.run(steps)
    except KeyboardInterrupt:
        print("\nInterrupted: stopping the servers and dropping the database ...", flush=True)
        code = 130
    except RuntimeError as error:
        print(f"bench: {error}", file=sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C must not leave the database or a server behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return code


if __name__ == "__main__":
    sys.exit(main())
