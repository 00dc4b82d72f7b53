"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temp data folder, trust auth.

The server listens on a free port of 127.0.0.1 (its socket in the temp folder) and is stopped
and deleted at the end. Postgres refuses to run as root: as root, ``initdb`` and the server
run as the ``postgres`` system user (``runuser``), in a folder handed to it.

Each test gets a database of its own (`PostgresServer.new_database`), so its journal starts
empty; the server itself is started once per session.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["PostgresServer", "PostgresUnavailableError", "find_bin_dir"]

BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian's ``postgresql`` package puts the server's binaries (one folder per version)."""
START_DEADLINE = 60.0
"""Seconds the server may take to accept connections (a bound, not a wait)."""


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server can be started here (the reason says why)."""


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL ``bin`` folder holding ``initdb`` and ``postgres``, else the
    folder of ``initdb`` on ``PATH``; ``None`` when there is neither."""

    def version(folder: str) -> int:
        name = Path(folder).parent.name
        return int(name) if name.isdigit() else 0

    for folder in sorted(glob.glob(BIN_GLOB), key=version, reverse=True):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in a temp folder (use as a context manager, or `start`/`stop`).

    Example:
        ```python
        with PostgresServer() as server:
            url = server.new_database()  # postgresql://postgres@127.0.0.1:PORT/test_...
        ```
    """

    def __init__(self) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailableError(
                f"no PostgreSQL server binaries (looked in {BIN_GLOB} and on PATH; Debian: "
                "apt-get install postgresql)"
            )
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="giga-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root: run it as the postgres user
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise PostgresUnavailableError(
                    "running as root and there is no 'postgres' user to run the server as"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, cwd=self.root, check=False
        )
        if done.returncode != 0:
            raise PostgresUnavailableError(
                f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
            )

    def start(self) -> PostgresServer:
        """initdb, then start the server and wait (bounded) until it accepts connections."""
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = _free_port()
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
            ]
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(START_DEADLINE)),
            "start",
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        ready = str(self.bin_dir / "pg_isready")
        while True:
            probe = subprocess.run(
                [ready, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-t", "5"],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresUnavailableError(f"the server did not accept connections: {self.log}")

    @property
    def log(self) -> str:
        """The end of the server's log."""
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A URL of ``database`` (trust auth: any ``password`` is accepted and ignored)."""
        user = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away) and delete its folder."""
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self._as,
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                cwd=self.root,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
