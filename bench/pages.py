"""The paging test: one user with 1000 tasks reads them all, 200 a page, following Link."""

import http.client
import re
import time
from dataclasses import dataclass

PAGE_SIZE = 200
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass(frozen=True, slots=True)
class PagesResult:
    latencies_ms: list[float]  # one per page request, in order
    walks: int
    pages_per_walk: int
    tasks_per_walk: int
    failures: int  # responses other than 200
    duration_s: float


def walk(port: int, token: str, walks: int) -> PagesResult:
    """`walks` times: GET /api/tasks?limit=200, then each rel="next" link until there is none.

    One keep-alive connection and one request at a time, timed around the whole exchange
    (headers and body read), so the numbers are what one client waits per page.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    failures = pages = tasks = 0
    started = time.perf_counter()
    try:
        for _ in range(walks):
            path: str | None = f"/api/tasks?limit={PAGE_SIZE}"
            pages = tasks = 0
            while path is not None:
                begin = time.perf_counter()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                latencies.append((time.perf_counter() - begin) * 1000)
                if response.status != 200:
                    failures += 1
                    break
                pages += 1
                tasks += body.count(b'"user_id"')
                link = _NEXT.search(response.getheader("Link") or "")
                path = link.group(1) if link else None
    finally:
        connection.close()
    return PagesResult(
        latencies_ms=latencies,
        walks=walks,
        pages_per_walk=pages,
        tasks_per_walk=tasks,
        failures=failures,
        duration_s=time.perf_counter() - started,
    )
