"""The payment journal's file: where it lives, its permissions, its connections and transactions.

All of the journal's SQL sits in `journal` (queries) and `journal_schema` (tables); this module
only opens the file, migrates it, and hands out a connection per thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.exceptions import GigaConfigError
from .journal_schema import migrate

__all__ = ["DEFAULT_JOURNAL_PATH", "ENV_JOURNAL_PATH", "JournalStore", "default_journal_path"]

ENV_JOURNAL_PATH = "GIGA_JOURNAL_PATH"
DEFAULT_JOURNAL_PATH = Path("~/.prefect-giga/journal.sqlite3")


def default_journal_path() -> Path:
    """``$GIGA_JOURNAL_PATH`` or ``~/.prefect-giga/journal.sqlite3``.

    Example:
        >>> default_journal_path().name
        'journal.sqlite3'
    """
    configured = os.environ.get(ENV_JOURNAL_PATH)
    return Path(configured).expanduser() if configured else DEFAULT_JOURNAL_PATH.expanduser()


class JournalStore:
    """The journal's SQLite file: created private, migrated, one connection per thread.

    Args:
        path: The file (default `default_journal_path()`).
        clock: Seconds since the epoch; replaceable in tests.

    Example:
        >>> import tempfile, pathlib
        >>> store = JournalStore(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> store.path.stat().st_mode & 0o777 == 0o600
        True
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_journal_path()
        self._clock = clock or time.time
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
        with self._write() as db:
            migrate(db)

    def _now(self) -> float:
        return float(self._clock())

    def now(self) -> float:
        """The journal's clock (seconds since the epoch)."""
        return self._now()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: a committed write survives a crash of the process
            # (what the journal guards against) without an fsync on every commit.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        yield db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` write transaction, for the journal's companion tables
        (the paid lane's ``paid_flights``)."""
        with self._write() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
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

    def __repr__(self) -> str:
        return f"Journal(path={str(self.path)!r})"
