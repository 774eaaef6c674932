"""Results: medians over the rounds, ratios to the floor, targets; table, JSON, Markdown, PNG."""

import json
import statistics
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .workload import LOADS

API, STACK, FLOOR = "api", "stack", "floor"
SERVERS = (API, STACK, FLOOR)  # in the order rows and bars show them


@dataclass(slots=True)
class Measurement:
    """One load against one server in one round."""

    load: str
    target: str
    round: int
    workers: int
    connections: int
    think_ms: int
    duration_s: float
    requests: int
    rps: float  # pages per second for the paging test
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors (connect, read, write); failed pages for the paging test
    timeouts: int  # requests slower than wrk's timeout
    non_2xx: int
    statuses: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    server_cpu_s: float | None = None  # all the server's processes, workers included
    postgres_cpu_s: float | None = None  # this database's backends + PostgreSQL's own processes
    wrk_cpu_s: float | None = None
    rss_mb: list[float] = field(default_factory=list)  # per worker, at the end of the run

    @property
    def server_cores(self) -> float | None:
        return None if self.server_cpu_s is None else self.server_cpu_s / self.duration_s

    @property
    def postgres_cores(self) -> float | None:
        return None if self.postgres_cpu_s is None else self.postgres_cpu_s / self.duration_s

    @property
    def requests_per_cpu_s(self) -> float | None:
        cpu = self.server_cpu_s
        return None if not cpu else self.requests / cpu

    @property
    def cpu_ms_per_request(self) -> float | None:
        """Server CPU per request: its cores over the requests per second, in milliseconds."""
        cores = self.server_cores
        return None if cores is None or not self.rps else cores / self.rps * 1000

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["server_cores"] = self.server_cores
        data["postgres_cores"] = self.postgres_cores
        data["requests_per_cpu_s"] = self.requests_per_cpu_s
        data["cpu_ms_per_request"] = self.cpu_ms_per_request
        return data


@dataclass(slots=True)
class Summary:
    """The median of each number over the rounds of one load and server."""

    load: str
    target: str
    workers: int
    rounds: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int  # summed over the rounds: a target of zero means zero in every round
    timeouts: int
    non_2xx: int
    server_cores: float | None
    postgres_cores: float | None
    requests_per_cpu_s: float | None
    rss_mb_max: float | None  # the largest worker at the end of any round


@dataclass(slots=True)
class Ratio:
    """A server / the floor, per round (measured seconds apart), then the median over rounds."""

    load: str
    rps: float
    p50: float
    p95: float
    p99: float
    requests_per_cpu_s: float | None
    cpu_per_request: float | None


@dataclass(slots=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(measurements: list[Measurement]) -> list[Summary]:
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.load, m.target), []).append(m)
    summaries = []
    for (load, target), runs in groups.items():
        rss = [mb for m in runs for mb in m.rss_mb]
        summaries.append(
            Summary(
                load=load,
                target=target,
                workers=runs[0].workers,
                rounds=len(runs),
                rps=statistics.median(m.rps for m in runs),
                p50_ms=statistics.median(m.p50_ms for m in runs),
                p95_ms=statistics.median(m.p95_ms for m in runs),
                p99_ms=statistics.median(m.p99_ms for m in runs),
                errors=sum(m.errors for m in runs),
                timeouts=sum(m.timeouts for m in runs),
                non_2xx=sum(m.non_2xx for m in runs),
                server_cores=_median(m.server_cores for m in runs),
                postgres_cores=_median(m.postgres_cores for m in runs),
                requests_per_cpu_s=_median(m.requests_per_cpu_s for m in runs),
                rss_mb_max=max(rss) if rss else None,
            )
        )
    order = list(LOADS)
    summaries.sort(key=lambda s: (order.index(s.load), SERVERS.index(s.target)))
    return summaries


def _median_ratio(
    runs: list[tuple[Measurement, Measurement]], get: Callable[[Measurement], float | None]
) -> float | None:
    values = []
    for server, floor in runs:
        a, f = get(server), get(floor)
        if a is not None and f:
            values.append(a / f)
    return statistics.median(values) if values else None


def ratios(measurements: list[Measurement], server: str = API) -> dict[str, Ratio]:
    """Per load, `server` (the API unless named) as a ratio to the floor."""
    pairs: dict[str, list[tuple[Measurement, Measurement]]] = {}
    by_key = {(m.load, m.target, m.round): m for m in measurements}
    for (load, target, round_), measured in by_key.items():
        floor = by_key.get((load, FLOOR, round_))
        if target == server and floor is not None:
            pairs.setdefault(load, []).append((measured, floor))
    result = {}
    for load, runs in pairs.items():
        result[load] = Ratio(
            load=load,
            rps=_median_ratio(runs, lambda m: m.rps) or 0.0,
            p50=_median_ratio(runs, lambda m: m.p50_ms) or 0.0,
            p95=_median_ratio(runs, lambda m: m.p95_ms) or 0.0,
            p99=_median_ratio(runs, lambda m: m.p99_ms) or 0.0,
            requests_per_cpu_s=_median_ratio(runs, lambda m: m.requests_per_cpu_s),
            cpu_per_request=_median_ratio(runs, lambda m: m.cpu_ms_per_request),
        )
    return result


T = TypeVar("T")


def _check(name: str, source: T | None, measure: Callable[[T], tuple[str, bool]]) -> Target:
    if source is None:
        return Target(name, "not measured", None)
    measured, passed = measure(source)
    return Target(name, measured, passed)


def _errors(s: Summary) -> tuple[str, bool]:
    return f"{s.errors} errors, {s.timeouts} timeouts", s.errors + s.timeouts == 0


def _worst_round(runs: list[Measurement], ceiling_ms: float) -> tuple[str, bool]:
    """Every round's p95 and p99 under the ceiling: the worst round decides."""
    p95, p99 = max(m.p95_ms for m in runs), max(m.p99_ms for m in runs)
    rounds = f"{len(runs)} round{'s' if len(runs) != 1 else ''}"
    return f"worst of {rounds}: p95 {p95:.1f} ms, p99 {p99:.1f} ms", max(p95, p99) <= ceiling_ms


def targets(
    summaries: list[Summary], ratio: dict[str, Ratio], measurements: list[Measurement]
) -> list[Target]:
    """The issue's targets, each PASS, FAIL or n/a (not measured in this run)."""
    api = {s.load: s for s in summaries if s.target == API}
    think, c1000, pages = api.get("think"), api.get("c1000"), api.get("pages")
    r_think, r100, r1000 = ratio.get("think"), ratio.get("c100"), ratio.get("c1000")
    think_rounds = [m for m in measurements if m.target == API and m.load == "think"]
    workers = c1000.workers if c1000 else "default"
    rss = [mb for m in measurements if m.target == API for mb in m.rss_mb]
    return [
        _check(
            "1000 users, 1 s think: p95 <= 3x floor's",
            r_think,
            lambda r: (f"{r.p95:.2f}x", r.p95 <= 3),
        ),
        _check(
            "1000 users, 1 s think: p99 <= 3x floor's",
            r_think,
            lambda r: (f"{r.p99:.2f}x", r.p99 <= 3),
        ),
        _check(
            "1000 users, 1 s think: p95 and p99 <= 200 ms in every round",
            think_rounds or None,
            lambda runs: _worst_round(runs, 200),
        ),
        _check("1000 users, 1 s think: zero errors and timeouts", think, _errors),
        _check(
            "1000 users, 1 s think: zero non-2xx",
            think,
            lambda s: (f"{s.non_2xx} non-2xx", s.non_2xx == 0),
        ),
        _check(
            "1000 users, 1 s think: server CPU per request <= 1.5x floor's",
            r_think.cpu_per_request if r_think is not None else None,
            lambda x: (f"{x:.2f}x", x <= 1.5),
        ),
        _check(
            "closed loop c=100, 1 worker: throughput >= 0.6x floor",
            r100,
            lambda r: (f"{r.rps:.2f}x", r.rps >= 0.6),
        ),
        _check(
            f"closed loop c=1000, {workers} workers: throughput >= 0.45x floor",
            r1000,
            lambda r: (f"{r.rps:.2f}x", r.rps >= 0.45),
        ),
        _check(
            "closed loop c=1000: p95 <= 2.5x floor's",
            r1000,
            lambda r: (f"{r.p95:.2f}x", r.p95 <= 2.5),
        ),
        _check(
            "closed loop c=1000: p99 <= 2.5x floor's",
            r1000,
            lambda r: (f"{r.p99:.2f}x", r.p99 <= 2.5),
        ),
        _check("closed loop c=1000: zero errors and timeouts", c1000, _errors),
        _check(
            "one user, 1000 tasks: page of 200 p95 < 20 ms",
            pages,
            lambda s: (f"{s.p95_ms:.1f} ms", s.p95_ms < 20),
        ),
        _check(
            "RSS per API worker < 150 MB after the run",
            max(rss) if rss else None,
            lambda mb: (f"{mb:.0f} MB (largest)", mb < 150),
        ),
    ]


# -- rendering ------------------------------------------------------------------------------

_COLUMNS = (
    ("load", 6),
    ("server", 6),
    ("W", 2),
    ("req/s", 7),
    ("p50 ms", 7),
    ("p95 ms", 7),
    ("p99 ms", 7),
    ("err", 5),
    ("tmo", 5),
    ("non2xx", 6),
    ("srv CPU", 7),
    ("PG CPU", 6),
    ("RSS MB", 6),
    ("req/CPU-s", 9),
    ("x floor: req/s p95 p99", 22),
)


LEGEND = (
    "W workers; medians over rounds; err = socket errors, tmo = timeouts; srv/PG CPU in cores;\n"
    "RSS MB = largest worker at the end; x floor = server/floor per round (req/s, p95, p99),\n"
    "median; stack = bench/stack.py, the API's stack with none of its features (--stack)"
)


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


Versus = dict[str, dict[str, Ratio]]  # server -> load -> its ratio to the floor


def table_rows(summaries: list[Summary], versus: Versus) -> list[list[str]]:
    rows = []
    for s in summaries:
        r = versus.get(s.target, {}).get(s.load)
        ratio_text = f"{r.rps:.2f}  {r.p95:.2f}  {r.p99:.2f}" if r else "-"
        rows.append(
            [
                s.load,
                s.target,
                str(s.workers),
                f"{s.rps:.0f}",
                _number(s.p50_ms, 2),
                _number(s.p95_ms, 2),
                _number(s.p99_ms, 2),
                str(s.errors),
                str(s.timeouts),
                str(s.non_2xx),
                _number(s.server_cores, 2),
                _number(s.postgres_cores, 2),
                _number(s.rss_mb_max, 0),
                _number(s.requests_per_cpu_s, 0),
                ratio_text,
            ]
        )
    return rows


def text_table(summaries: list[Summary], versus: Versus) -> str:
    widths = [width for _, width in _COLUMNS]
    lines = [" ".join(name.rjust(w) for (name, _), w in zip(_COLUMNS, widths, strict=True))]
    lines.append(" ".join("-" * w for w in widths))
    for row in table_rows(summaries, versus):
        lines.append(" ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def targets_text(found: list[Target]) -> str:
    width = max(len(t.name) for t in found)
    return "\n".join(f"  {t.verdict:<4}  {t.name:<{width}}  {t.measured}" for t in found)


def markdown(
    meta: dict[str, Any], summaries: list[Summary], versus: Versus, found: list[Target]
) -> str:
    header = [name for name, _ in _COLUMNS]
    lines = [f"# todo-api benchmark, {meta['started']}", ""]
    if meta["quick"]:
        lines += [
            "**Quick smoke run** (`--quick`: short runs, one round). It shows that the harness "
            "works; its numbers are too noisy to judge the targets by.",
            "",
        ]
    lines += [
        f"Commit `{meta['commit']}`, {meta['cpus']} CPUs, {meta['rounds']} round(s) of "
        f"{meta['duration_s']:.0f} s per load, alternating the servers. "
        f"Medians over the rounds; errors summed. Pools per worker: API (and stack) "
        f"DATABASE_POOL_SIZE={meta['pool']['api_pool_size']} + "
        f"DATABASE_MAX_OVERFLOW={meta['pool']['api_max_overflow']}, floor asyncpg "
        f"min {meta['pool']['floor_min']} / max {meta['pool']['floor_max']}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summaries, versus)]
    lines += ["", "## Targets", "", "| verdict | target | measured |", "|---|---|---|"]
    lines += [f"| {t.verdict} | {t.name} | {t.measured} |" for t in found]
    lines += [
        "",
        f"![throughput and latency]({meta['chart']})",
        "",
        "## How to read it",
        "",
        "- Loads: " + "; ".join(f"`{load.name}` {load.title}" for load in LOADS.values()) + ".",
        "- Mix per request: "
        + ", ".join(f"{p}% {route}" for route, p in meta["mix"].items())
        + ".",
        "- `W` worker processes. `req/s` for `pages` is pages per second of one sequential client.",
        "- `err`: wrk socket errors (connect, read, write); `tmo`: requests over "
        f"{meta['wrk_timeout_s']} s; `non2xx`: responses outside 200-299, counted in wrk's Lua "
        "`response()`.",
        "- `srv CPU` / `PG CPU`: CPU cores used during the run (CPU seconds / wall seconds) by "
        "all the server's processes, and by this database's PostgreSQL backends plus "
        "PostgreSQL's shared background processes; from /proc utime+stime. `RSS MB`: the "
        "largest worker at the end of a run. `req/CPU-s`: requests per CPU second of the server.",
        "- Server CPU per request (a target under think time): the server's CPU cores divided "
        "by its req/s, as a ratio to the floor's per round, median over the rounds.",
        "- `x floor`: server / floor per round (the two measured seconds apart), median over "
        "the rounds; the box is shared and noisy, so compare ratios, not absolute numbers.",
        "- `stack` (with `--stack`): bench/stack.py, the benchmark's endpoints on the API's "
        "stack and service code with none of the API's features; where the API sits between it "
        "and the floor says what the features cost and what the stack costs.",
        "- Latencies are wrk's (corrected for coordinated omission in closed loops), measured "
        "from sending the request to the end of the response; think time is not included.",
    ]
    return "\n".join(lines) + "\n"


def chart(path: Path, summaries: list[Summary], title: str) -> None:
    import matplotlib  # noqa: PLC0415 (slow import, only needed here)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    colors = {
        API: ("#9ecae1", "#4292c6", "#08519c"),
        STACK: ("#c7e9c0", "#74c476", "#006d2c"),
        FLOOR: ("#fdd0a2", "#fd8d3c", "#a63603"),
    }
    by_key = {(s.load, s.target): s for s in summaries}
    loads = [name for name in LOADS if any(s.load == name for s in summaries)]
    servers = _servers(summaries)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))

    wrk_loads = [name for name in loads if name != "pages"]
    width = 0.8 / max(1, len(servers))
    for i, server in enumerate(servers):
        xs = [n + (i - (len(servers) - 1) / 2) * width for n in range(len(wrk_loads))]
        heights = [
            by_key[(name, server)].rps if (name, server) in by_key else 0 for name in wrk_loads
        ]
        bars = left.bar(xs, heights, width, label=server, color=colors[server][1])
        left.bar_label(bars, fmt="%.0f", fontsize=8)
    left.set_xticks(range(len(wrk_loads)), [_label(n, by_key) for n in wrk_loads], fontsize=8)
    left.set_ylabel("requests per second (median)")
    left.set_title("Throughput")
    left.legend()

    slots = [(server, p) for server in servers for p in range(3)]
    width = 0.8 / len(slots)
    for j, (server, p) in enumerate(slots):
        attr = ("p50_ms", "p95_ms", "p99_ms")[p]
        xs = [n + (j - (len(slots) - 1) / 2) * width for n in range(len(loads))]
        heights = [
            getattr(by_key[(name, server)], attr) if (name, server) in by_key else 0
            for name in loads
        ]
        right.bar(xs, heights, width, color=colors[server][p], label=f"{server} {attr[:3]}")
    right.set_yscale("log")
    right.set_xticks(range(len(loads)), [_label(n, by_key) for n in loads], fontsize=8)
    right.set_ylabel("latency, ms (log scale)")
    right.set_title("Latency p50 / p95 / p99")
    right.legend(fontsize=7, ncol=2)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _servers(summaries: list[Summary]) -> list[str]:
    return [t for t in SERVERS if any(s.target == t for s in summaries)]


def _label(load: str, by_key: dict[tuple[str, str], Summary]) -> str:
    workers = next((s.workers for (name, _), s in by_key.items() if name == load), 0)
    title = textwrap.fill(LOADS[load].title, 20)
    return f"{load}\n{title}\n({workers} worker{'s' if workers != 1 else ''})"


def write(
    directory: Path,
    stem: str,
    meta: dict[str, Any],
    measurements: list[Measurement],
) -> tuple[str, list[Path]]:
    """Write JSON, Markdown and PNG; return the console text and the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    summaries = summarise(measurements)
    versus = {server: ratios(measurements, server) for server in SERVERS if server != FLOOR}
    found = targets(summaries, versus[API], measurements)
    paths = [directory / f"{stem}.{ext}" for ext in ("json", "md", "png")]
    meta = {**meta, "chart": paths[2].name}
    document = {
        "meta": meta,
        "summary": [asdict(s) for s in summaries],
        "ratios_to_floor": {
            server: {load: asdict(r) for load, r in by_load.items()}
            for server, by_load in versus.items()
            if by_load
        },
        "targets": [{**asdict(t), "verdict": t.verdict} for t in found],
        "measurements": [m.as_json() for m in measurements],
    }
    paths[0].write_text(json.dumps(document, indent=2) + "\n")
    paths[1].write_text(markdown(meta, summaries, versus, found))
    chart(
        paths[2],
        summaries,
        f"{' vs '.join(_servers(summaries))}, {meta['started']}"
        + (" (quick)" if meta["quick"] else ""),
    )
    text = "\n".join(
        [
            text_table(summaries, versus),
            LEGEND,
            "",
            "Targets (API medians and median ratios to the floor; errors summed over the "
            "rounds; the 200 ms ceiling in every round):",
            targets_text(found),
        ]
    )
    return text, paths
