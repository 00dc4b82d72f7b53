"""Where the payment journal's rows live, and how it hands out connections and transactions.

The backend is a SQLite file (`journal_sqlite`) or a PostgreSQL database
(`journal_postgres`), chosen by `journal_url.journal_target`. All of the journal's queries
sit in `journal`, `journal_guards` and the paid lane, written once for both; the tables in
`journal_schema` (SQLite) and `journal_schema_pg` (PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from .journal_db import JournalBackend, JournalDB
from .journal_postgres import postgres_backend
from .journal_sqlite import SqliteBackend
from .journal_url import (
    DEFAULT_JOURNAL_PATH,
    ENV_JOURNAL_PATH,
    ENV_JOURNAL_URL,
    default_journal_path,
    journal_target,
)

__all__ = [
    "DEFAULT_JOURNAL_PATH",
    "ENV_JOURNAL_PATH",
    "ENV_JOURNAL_URL",
    "JournalStore",
    "default_journal_path",
]


class JournalStore:
    """The journal's storage: a SQLite file or a PostgreSQL database, with the journal's clock.

    Args:
        path: The SQLite file (default `default_journal_path()`).
        url: A ``postgresql://`` URL instead (default ``$GIGA_JOURNAL_URL`` when neither is
            given). Its password is never shown.
        clock: Seconds since the epoch; replaceable in tests.

    Attributes:
        path: The SQLite file, or ``None`` for a PostgreSQL journal.

    Example:
        >>> import tempfile, pathlib
        >>> store = JournalStore(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> store.path.stat().st_mode & 0o777 == 0o600
        True
        >>> store.backend_name
        'sqlite'
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        url: str | SecretStr | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._clock = clock or time.time
        file, target_url = journal_target(path, url)
        self.path: Path | None = file
        self._backend: JournalBackend
        if target_url is not None:
            self._backend = postgres_backend(target_url)
        else:
            assert file is not None
            self._backend = SqliteBackend(file)

    @property
    def backend_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self.path is not None else "postgresql"

    @property
    def location(self) -> str:
        """Where the journal is, safe to show: the file, or the URL without its password."""
        return self._backend.location

    def _now(self) -> float:
        return float(self._clock())

    def now(self) -> float:
        """The journal's clock (seconds since the epoch)."""
        return self._now()

    @contextmanager
    def _connect(self) -> Iterator[JournalDB]:
        yield self._backend.connection()

    @contextmanager
    def transaction(self) -> Iterator[JournalDB]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite, the journal's advisory lock
        on PostgreSQL), for the journal's companion tables (the paid lane's
        ``paid_flights``)."""
        with self._write() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[JournalDB]:
        with self._backend.write() as db:
            yield db

    def close(self) -> None:
        """Close this thread's connection."""
        self._backend.close()

    def __repr__(self) -> str:
        if self.path is not None:
            return f"Journal(path={str(self.path)!r})"
        return f"Journal(url={self.location!r})"
