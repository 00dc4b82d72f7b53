"""What the journal's queries need from a database connection, whichever the backend.

Both backends hand the queries a connection with ``execute(sql, params)`` returning rows;
the queries are written once, with ``?`` placeholders and SQL both SQLite and PostgreSQL
accept (``INSERT ... ON CONFLICT ... DO UPDATE``, ``CASE`` rather than two-argument
``MAX``). The PostgreSQL backend turns ``?`` into its own placeholder.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["JournalBackend", "JournalDB", "Rows"]


class Rows(Protocol):
    """The rows of one statement.

    Example:
        ```python
        row = db.execute("SELECT 1").fetchone()
        ```
    """

    def fetchone(self) -> Any:
        """The next row, or ``None``."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        ...


class JournalDB(Protocol):
    """A journal connection: ``execute`` with ``?`` placeholders.

    Example:
        ```python
        with journal.transaction() as db:
            db.execute("DELETE FROM leases WHERE owner = ?", ("me",))
        ```
    """

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one statement with its parameters."""
        ...


class JournalBackend(Protocol):
    """Where the journal's rows live: a connection per thread and serialised write
    transactions.

    Example:
        ```python
        with backend.write() as db:  # no other writer, in any process, until it ends
            ...
        ```
    """

    location: str
    """Where the journal is, safe to show (a file path, or a URL without its password)."""

    def connection(self) -> JournalDB:
        """This thread's connection, outside any transaction (each statement commits)."""
        ...

    def write(self) -> AbstractContextManager[JournalDB]:
        """One write transaction; writers are serialised across every process."""
        ...

    def close(self) -> None:
        """Close this thread's connection."""
        ...
