"""A real PgBouncer in transaction mode in front of the suite's PostgreSQL server.

Debian's package (`pgbouncer`, 1.18 on bookworm: no prepared-statement support, the strictest
pooler there is), installed with apt-get when it is missing and the suite runs as root, as CI
does. It listens on 127.0.0.1 on a free port (no unix socket) and shares a few server
connections among all the app's client connections, as Neon's `-pooler` endpoints do, so a
statement that strays from its transaction's server connection fails as it would there.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

# Fewer than one app's pool (15): client connections take turns on the server connections.
SERVER_CONNECTIONS = 4
START_TIMEOUT = 10.0
INSTALL_TIMEOUT = 300.0


class PgBouncerUnavailable(Exception):
    pass


def ensure_pgbouncer() -> str:
    """pgbouncer's path; installed from Debian's packages when missing and we are root."""
    found = _find()
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise PgBouncerUnavailable(
            "pgbouncer is not installed and cannot be installed here (needs root and "
            "apt-get); install it with `sudo apt-get install -y pgbouncer`"
        )
    # Another engineer's test run may hold the dpkg lock for a while.
    install = ["install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", "pgbouncer"]
    done = _apt(apt, *install)
    if done.returncode != 0:
        _apt(apt, "update", "-q")  # a fresh machine has no package lists yet
        done = _apt(apt, *install)
    found = _find()
    if not found:
        raise PgBouncerUnavailable(
            f"`apt-get install -y pgbouncer` did not install it:\n{done.stdout}{done.stderr}"
        )
    return found


def _apt(apt: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [apt, *args],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


def _find() -> str | None:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


@dataclass
class PgBouncer:
    process: subprocess.Popen[bytes]
    directory: Path
    port: int

    def url_for(self, database_url: URL) -> URL:
        """The same database and user, through PgBouncer (no password, no TLS on this hop)."""
        return database_url.set(host="127.0.0.1", port=self.port, password=None, query={})

    @property
    def log(self) -> str:
        return (self.directory / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer(binary: str, server: URL) -> PgBouncer:
    """PgBouncer in transaction mode in front of `server` (any database on it, as its user)."""
    directory = Path(tempfile.mkdtemp(prefix="todo-api-pgbouncer-"))
    port = _free_port()
    user = server.username or "postgres"
    target = f"host={server.host or '127.0.0.1'} port={server.port or 5432} user={user}"
    if server.password:
        target += f" password='{server.password}'"
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""\
[databases]
* = {target}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "userlist.txt"}
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 500
log_connections = 0
log_disconnections = 0
"""
    )
    command = [binary, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; it drops to the PostgreSQL system user itself.
        command[1:1] = ["-u", "postgres"]
        for path in (directory, *directory.iterdir()):
            shutil.chown(path, "postgres")
    with (directory / "pgbouncer.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(process, directory, port)
    deadline = time.monotonic() + START_TIMEOUT
    while not _accepts(port):
        if process.poll() is not None or time.monotonic() > deadline:
            log_text = bouncer.log
            bouncer.stop()
            raise PgBouncerUnavailable(f"pgbouncer did not start:\n{log_text}")
        time.sleep(0.05)
    return bouncer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
