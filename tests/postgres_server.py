"""A real PostgreSQL server for the tests, started from this machine's own binaries.

    server = PostgresServer.start()          # initdb into a fresh temp dir, then postgres
    url = server.create_database("t1")       # postgresql:///t1?host=<dir>&user=flowgrade
    server.stop()

The server listens only on a Unix socket in its own temp dir (no TCP: `listen_addresses`
is empty), trusts local connections (nobody else can reach that socket), and runs
without fsync (test data need not survive a power cut). PostgreSQL refuses to run as
root, so as root the data dir belongs to an unprivileged user (`nobody`) and initdb and
the server run as that user (`Popen(user=..., group=...)`). The server is this process's
child and gets SIGQUIT (immediate shutdown) if this process dies, so a killed test run
leaves no server behind; `stop` shuts it down cleanly and removes the temp dir.

Binaries: the newest `/usr/lib/postgresql/*/bin` (Debian's layout), else `pg_config
--bindir`. `find_binaries()` is None where neither exists; tests then skip with that
reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GRADEBOOK_KINDS = ("sqlite", "postgresql")
UNPRIVILEGED_USER = "nobody"
ROLE = "flowgrade"
START_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1


def find_binaries() -> Path | None:
    """The folder holding `initdb` and `postgres`, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            candidates.append(Path(out.stdout.strip()))
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def _die_with_parent() -> None:  # runs in the child, after it changed its uid
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)


@dataclass
class PostgresServer:
    """A running server (use `start`)."""

    directory: Path
    process: subprocess.Popen[bytes]
    bindir: Path

    @classmethod
    def start(cls, bindir: Path | None = None) -> PostgresServer:
        bindir = bindir or find_binaries()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL binaries (initdb, postgres) on this machine")
        directory = Path(tempfile.mkdtemp(prefix="flowgrade-pg-", dir="/tmp"))
        as_user = _user_args()
        if as_user:
            os.chown(directory, as_user["user"], as_user["group"])
        directory.chmod(0o700)
        data = directory / "data"
        log = directory / "server.log"
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, cwd=directory, **as_user,
        )  # fmt: skip
        if init.returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-500:]}")
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
            "shared_buffers": "32MB",
        }
        argv = [str(bindir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        with log.open("wb") as handle:
            process = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=directory, preexec_fn=_die_with_parent, **as_user,
            )  # fmt: skip
        server = cls(directory, process, bindir)
        server._wait_ready(log)
        return server

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql:///{name}?host={self.directory}&user={ROLE}"

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def _wait_ready(self, log: Path) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                text = log.read_text(errors="replace")[-800:]
                self.stop()
                raise RuntimeError(f"postgres exited at start: {text}")
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("postgres did not accept connections in time") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, disconnect), then clean up."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _user_args() -> dict[str, int]:
    """`Popen` arguments that drop root to the unprivileged user ({} when not root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def new_gradebook(request: Any, kind: str, folder: Path) -> str:
    """A fresh, empty gradebook location of `kind` (`sqlite` or `postgresql`; the latter
    on the session's server, fixture `postgres_server`)."""
    if kind == "sqlite":
        return str(folder / "gradebook.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"gradebook_{uuid.uuid4().hex[:16]}")
