"""The journal in a SQLite file: created private, migrated, one connection per thread, and
writes in ``BEGIN IMMEDIATE`` transactions (one writer at a time, across processes)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.exceptions import GigaConfigError
from .journal_schema import migrate
from .journal_url import ENV_JOURNAL_PATH

__all__ = ["SqliteBackend"]

_WAL_WAIT_SECONDS = 30.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so), waiting while another process holds a lock.

    Switching a new file to WAL can fail at once with "database is locked" while another
    process opening the same file is mid-transaction (SQLite does not always wait on its
    busy handler for it), so the switch is tried again for up to 30 seconds.
    """
    deadline = time.monotonic() + _WAL_WAIT_SECONDS
    delay = 0.01
    while True:
        try:
            mode = str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


class SqliteBackend:
    """The SQLite journal file (WAL mode; the folder 0700, the file 0600).

    Args:
        path: The file.

    Example:
        >>> import tempfile, pathlib
        >>> backend = SqliteBackend(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> backend.path.stat().st_mode & 0o777 == 0o600
        True
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._local = threading.local()
        self._prepare()

    def _prepare(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise GigaConfigError(
                f"Cannot open the payment journal at {self.path} ({exc.strerror}); set "
                f"{ENV_JOURNAL_PATH} to a writable file"
            ) from None
        with self.write() as db:
            migrate(db)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; writes go through `write`)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA busy_timeout=30000")
            _use_wal(db)
            # WAL with synchronous=NORMAL: a committed write survives a crash of the process
            # (what the journal guards against) without an fsync on every commit.
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed at the end, rolled back on error."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
