"""A real Better Auth (Node, npm package `better-auth`), a typed TypeScript client, and our API
as a real process.

Each Node project under `interop/` (`better-auth`, `typed-client`) is installed with `npm ci`
whenever its node_modules is missing or was not installed by this fixture from the current
package.json, package-lock.json and Node.js version. Without Node.js and npm the interop tests
are skipped, except under CI=true, where that is a failure. Every process started here listens
on 127.0.0.1 on a port the kernel picks (port 0; the process says which), and is stopped when
its fixture ends.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from todo_api.core.config import Settings

INTEROP = Path(__file__).resolve().parents[2] / "interop"
# The guide a frontend developer follows; its examples are run as written.
FRONTEND_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "frontend.md"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The secret the "frontend" (Better Auth and its jose-minted tokens) shares with the API.
SHARED_SECRET = "interop-" + secrets.token_urlsafe(40)
MIN_NODE_MAJOR = 20
NPM_CI_TIMEOUT = 300.0
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0
_STAMP = ".todo-api-interop-stamp"
# server.mjs's settings: only what a test passes may reach it, nothing from the caller's shell.
_SERVER_SETTINGS = {
    "HOST",
    "PORT",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "JWT_ALG",
    "JWKS_ROTATION_INTERVAL",
    "JWKS_GRACE_PERIOD",
    "JWT_EXPIRATION_TIME",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "COOKIE_CACHE",
    "TRUSTED_ORIGINS",
}


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{message}; CI=true needs the Node interop tests to run")
    pytest.skip(f"{message}; the Node interop tests are skipped")


def _node_major(node: str) -> int:
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    return int(version.lstrip("v").split(".")[0])


@dataclass(frozen=True)
class NodeProject:
    node: str
    directory: Path

    def run_script(self, script: str, *args: str, env: dict[str, str]) -> str:
        done = subprocess.run(
            [self.node, script, *args],
            cwd=self.directory,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"node {script} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout


def npm_installed(project: Path) -> NodeProject:
    """`project` with its dependencies installed by `npm ci` from its package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("Node.js and npm are not on PATH")
    if _node_major(node) < MIN_NODE_MAJOR:
        _unavailable(f"Node.js {MIN_NODE_MAJOR} or newer is needed")
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((project / name).read_bytes())
    digest.update(subprocess.check_output([node, "--version"], timeout=30))
    want = digest.hexdigest()
    stamp = project / "node_modules" / _STAMP
    # Another test run (another engineer, another checkout step) may be installing too.
    lock_path = Path(tempfile.gettempdir()) / (
        "todo-api-npm-ci-" + hashlib.sha256(str(project).encode()).hexdigest()[:16] + ".lock"
    )
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != want:
            try:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=project,
                    capture_output=True,
                    text=True,
                    timeout=NPM_CI_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"npm ci in {project} took more than {NPM_CI_TIMEOUT:.0f} s")
            if done.returncode != 0:
                pytest.fail(f"npm ci in {project} failed:\n{done.stdout}\n{done.stderr}")
            stamp.write_text(want)
    return NodeProject(node, project)


@pytest.fixture(scope="session")
def node_project() -> NodeProject:
    """interop/better-auth: a Better Auth server, and jose to mint HS256 tokens."""
    return npm_installed(INTEROP / "better-auth")


@pytest.fixture(scope="session")
def typed_client_project() -> NodeProject:
    """interop/typed-client: openapi-typescript, openapi-fetch and tsc, as a frontend has them."""
    return npm_installed(INTEROP / "typed-client")


class Service:
    """A child process whose output is collected; ready when a line matches `ready`."""

    def __init__(
        self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, ready: str
    ) -> None:
        self.name = name
        self.lines: list[str] = []
        self._ready = re.compile(ready)
        self._match: re.Match[str] | None = None
        self._event = threading.Event()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if self._match is None and (found := self._ready.search(line)):
                self._match = found
                self._event.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-200:])

    def wait_ready(self, timeout: float = START_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while not self._event.wait(0.05):
            if self.process.poll() is not None:
                self._reader.join(2)
                pytest.fail(f"{self.name} exited ({self.process.returncode}):\n{self.output}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.name} was not ready within {timeout:.0f} s:\n{self.output}")
        assert self._match is not None
        return self._match

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)


@dataclass
class FrontendUser:
    """A browser session on the frontend: Better Auth's session cookie in a cookie jar."""

    id: str
    email: str
    session: httpx.Client

    def token(self) -> str:
        """`authClient.token()`: GET /api/auth/token with the session cookie."""
        response = self.session.get("/api/auth/token")
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def session_jwt_header(self) -> str:
        """The `set-auth-jwt` header the jwt plugin adds to GET /api/auth/get-session."""
        response = self.session.get("/api/auth/get-session")
        assert response.status_code == 200, response.text
        return response.headers["set-auth-jwt"]

    def session_data_cookie(self) -> str:
        """The cookie-cache token (`session.cookieCache.strategy = "jwt"`): HS256, the secret."""
        value = self.session.cookies.get("better-auth.session_data")
        assert value, "Better Auth set no session_data cookie"
        return value


@dataclass
class BetterAuth:
    url: str
    algorithm: str
    service: Service
    users: list[FrontendUser] = field(default_factory=list)

    def sign_up(self, name: str) -> FrontendUser:
        """What the frontend's `authClient.signUp.email(...)` sends, from the frontend's origin."""
        session = httpx.Client(
            base_url=self.url, headers={"Origin": self.url}, timeout=HTTP_TIMEOUT
        )
        email = f"{name}-{secrets.token_hex(4)}@example.com"
        response = session.post(
            "/api/auth/sign-up/email",
            json={"name": name, "email": email, "password": secrets.token_urlsafe(16)},
        )
        assert response.status_code == 200, f"sign-up: {response.status_code} {response.text}"
        user = FrontendUser(response.json()["user"]["id"], email, session)
        self.users.append(user)
        return user

    def stop(self) -> None:
        for user in self.users:
            user.session.close()
        self.service.stop()


def start_better_auth(
    project: NodeProject,
    *,
    algorithm: str = "EdDSA",
    port: int = 0,
    secret: str = SHARED_SECRET,
    **settings: str,
) -> BetterAuth:
    """`node server.mjs`, configured through its environment (see the header of server.mjs)."""
    env = {
        **{name: value for name, value in os.environ.items() if name not in _SERVER_SETTINGS},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BETTER_AUTH_SECRET": secret,
        "JWT_ALG": algorithm,
        "BETTER_AUTH_TELEMETRY": "0",
        "NODE_ENV": "test",
        **settings,
    }
    service = Service(
        f"Better Auth ({algorithm})",
        [project.node, "server.mjs"],
        env=env,
        cwd=project.directory,
        ready=r"BETTER_AUTH_READY (\{.*\})",
    )
    ready = json.loads(service.wait_ready().group(1))
    return BetterAuth(ready["url"], ready["alg"], service)


@dataclass
class Api:
    url: str
    service: Service
    env_file: str

    def client(self, origin: str) -> httpx.Client:
        """What a page served from `origin` reaches the API with (its Origin header included)."""
        return httpx.Client(base_url=self.url, headers={"Origin": origin}, timeout=HTTP_TIMEOUT)


def start_api(directory: Path, env_file: dict[str, str]) -> Api:
    """`todo-api serve` as a process, configured by a `.env` file in its working directory."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = {
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'todo.db'}",
        # No load balancer to drain from: stop at once on SIGTERM.
        "SHUTDOWN_DRAIN_SECONDS": "0",
        **env_file,
    }
    # Written as the frontend guide shows it, a comment after each value.
    text = "".join(f"{name}={value}   # {name.lower()}\n" for name, value in settings.items())
    (directory / ".env").write_text(text)
    names = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name.upper() not in names}
    service = Service(
        "todo-api",
        [sys.executable, "-c", "from todo_api.cli import main; main()", "serve", "--port", "0"],
        env=env,
        cwd=directory,
        ready=r"Uvicorn running on (http://127\.0\.0\.1:\d+)",
    )
    url = service.wait_ready().group(1)
    return Api(url, service, text)


@contextlib.contextmanager
def running_api(directory: Path, env_file: dict[str, str]) -> Iterator[Api]:
    api = start_api(directory, env_file)
    try:
        yield api
    finally:
        api.service.stop()


@contextlib.contextmanager
def running_better_auth(project: NodeProject, **options: Any) -> Iterator[BetterAuth]:
    better_auth = start_better_auth(project, **options)
    try:
        yield better_auth
    finally:
        better_auth.stop()


FRONTEND_GUIDE_HEADING = "## Connecting your Better Auth frontend"


def run_guide_examples(
    project: NodeProject,
    better_auth_url: str,
    api_url: str,
    initial_token: str | None = None,
    guide: Path | None = None,
) -> dict[str, Any]:
    """The frontend guide section's ```js code, run verbatim in Node by guide-examples.mjs."""
    env = {"BETTER_AUTH_URL": better_auth_url, "TODO_API_URL": api_url}
    if initial_token:
        env["INITIAL_TOKEN"] = initial_token
    if guide:
        env["GUIDE_FILE"] = str(guide)
    outcome: dict[str, Any] = json.loads(project.run_script("guide-examples.mjs", env=env))
    return outcome


def mint_hs256(project: NodeProject, claim_sets: list[dict[str, Any]], secret: str) -> list[str]:
    """Tokens minted by `jose` in Node exactly as a frontend mints them (mint-hs256.mjs)."""
    output = project.run_script(
        "mint-hs256.mjs", json.dumps(claim_sets), env={"BETTER_AUTH_SECRET": secret}
    )
    tokens: list[str] = json.loads(output)
    return tokens
