"""The servers answer the mix's reads alike: the floor (and the stack) do the API's work.

Checked once the servers are warm, on a quiet database: for a sample of users, each list of the
mix from every server, compared with the API's answer (status, X-Total-Count and body, byte for
byte: the same SQL writes the same JSON).
"""

import http.client
from dataclasses import dataclass

from .workload import UPCOMING_LIST

READS = ("/api/tasks", UPCOMING_LIST)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    total: str | None
    body: bytes

    @property
    def tasks(self) -> int:
        return self.body.count(b'"user_id"')


def _read(connection: http.client.HTTPConnection, path: str, token: str) -> Answer:
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    return Answer(response.status, response.getheader("X-Total-Count"), response.read())


def compare(
    ports: dict[str, int], reference: str, tokens: dict[str, str]
) -> tuple[list[str], dict[str, float]]:
    """Every server's answers against `reference`'s, for each user's token (user id -> token):
    the differences found (none: empty), and per read the mean number of tasks in
    `reference`'s answers."""
    connections = {
        name: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for name, port in ports.items()
    }
    differences: list[str] = []
    tasks = dict.fromkeys(READS, 0)
    try:
        for user, token in tokens.items():
            for path in READS:
                answers = {name: _read(c, path, token) for name, c in connections.items()}
                expected = answers[reference]
                tasks[path] += expected.tasks
                if expected.status != 200:
                    differences.append(f"{reference}: {path} is {expected.status} for user {user}")
                for name, answer in answers.items():
                    if answer != expected:
                        differences.append(
                            f"{name} and {reference} differ on {path} for user {user}: status "
                            f"{answer.status}/{expected.status}, X-Total-Count "
                            f"{answer.total}/{expected.total}, {answer.tasks}/{expected.tasks} "
                            "tasks"
                        )
    finally:
        for connection in connections.values():
            connection.close()
    return differences, {path: n / max(1, len(tokens)) for path, n in tasks.items()}
