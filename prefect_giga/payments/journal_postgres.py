"""The journal in a PostgreSQL database, shared by every worker that points at it.

Writes are serialised as ``BEGIN IMMEDIATE`` serialises them on SQLite: every write
transaction first takes one transaction-level advisory lock (`LOCK_KEY`), so at most one
writer runs at a time across every process and machine, and each of its statements (READ
COMMITTED) sees everything committed before it took the lock. Reads run outside
transactions, one statement each, as on SQLite.

psycopg 3 is imported only when a PostgreSQL journal is opened (the ``postgres`` extra).
The URL's password never appears in a repr, a log line or an error.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.exceptions import GigaConfigError
from .journal_db import Rows
from .journal_schema_pg import migrate_postgres
from .journal_url import ENV_JOURNAL_URL, redact_url

__all__ = ["LOCK_KEY", "PostgresBackend", "postgres_backend"]

LOCK_KEY = 0x7072_6566_6769_6761  # "prefgiga": the journal's advisory lock
"""The ``pg_advisory_xact_lock`` key every write transaction takes first."""
_BEGIN = (
    "BEGIN ISOLATION LEVEL READ COMMITTED; "
    # A writer waits at most this long for the lock (SQLite's busy timeout is 30 s too).
    "SET LOCAL lock_timeout = '30s'; "
    # A process that stalls inside a write transaction cannot hold every other writer up.
    "SET LOCAL idle_in_transaction_session_timeout = '60s'"
)
"""How every write transaction starts. Settings are per transaction and no statement is
prepared on the server, so a connection keeps no session state (a pooler may hand out
another server connection between transactions)."""

_BACKENDS: dict[str, PostgresBackend] = {}
_BACKENDS_GUARD = threading.Lock()


def _psycopg() -> Any:
    try:
        return importlib.import_module("psycopg")
    except ImportError:
        raise GigaConfigError(
            "A PostgreSQL payment journal needs psycopg: pip install 'prefect-giga[postgres]'"
        ) from None


def _scrubbed(exc: BaseException, url: str, password: str | None) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in (url, password, unquote(password or "")):
        if secret:
            text = text.replace(secret, "***")
    return text


class _Connection:
    """A psycopg connection that takes the journal's ``?`` placeholders."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        """Run one statement (``?`` placeholders)."""
        query = sql.replace("%", "%%").replace("?", "%s")  # a literal % stays one
        cursor: Rows = self.raw.execute(query, tuple(parameters))
        return cursor

    @property
    def usable(self) -> bool:
        return not (self.raw.closed or self.raw.broken)


class PostgresBackend:
    """A PostgreSQL journal: one connection per thread, one advisory lock for writers.

    Use `postgres_backend` to get the process's backend for a URL (its connections are
    shared by every `Journal` on that URL).

    Args:
        url: ``postgresql://user:password@host:port/database`` (libpq parameters such as
            ``?sslmode=require`` allowed).

    Example:
        ```python
        backend = postgres_backend("postgresql://giga@db.internal/journal")
        with backend.write() as db:
            db.execute("SELECT 1")
        ```
    """

    def __init__(self, url: str) -> None:
        self._psycopg = _psycopg()
        self._url = url
        self._password: str | None = None
        with suppress(ValueError):
            self._password = urlsplit(url).password
        self.location = redact_url(url)
        self._local = threading.local()
        try:
            with self.write() as db:
                migrate_postgres(db)
        except self._psycopg.Error as exc:  # no right to create the tables, say
            raise GigaConfigError(
                f"Cannot prepare the payment journal at {self.location} "
                f"({_scrubbed(exc, self._url, self._password)}): its database user needs to "
                "create the journal's tables on first use"
            ) from None

    def __repr__(self) -> str:
        return f"PostgresBackend({self.location!r})"

    def _open(self) -> _Connection:
        psycopg = self._psycopg
        try:
            raw = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=30,
                application_name="prefect-giga",
                prepare_threshold=None,
            )
        except psycopg.Error as exc:
            raise GigaConfigError(
                f"Cannot open the payment journal at {self.location} "
                f"({_scrubbed(exc, self._url, self._password)}); check {ENV_JOURNAL_URL}"
            ) from None
        return _Connection(raw)

    def connection(self) -> _Connection:
        """This thread's connection (autocommit; writes go through `write`), reopened when
        the server dropped it."""
        db: _Connection | None = getattr(self._local, "db", None)
        if db is None or not db.usable:
            db = self._local.db = self._open()
        return db

    @contextmanager
    def write(self) -> Iterator[_Connection]:
        """One READ COMMITTED transaction holding the journal's advisory lock: committed at
        the end, rolled back on error."""
        db = self.connection()
        try:
            db.raw.execute(_BEGIN)
        except self._psycopg.OperationalError:
            if db.usable:
                raise
            # The server dropped the connection since its last use; nothing ran: reconnect.
            db = self._local.db = self._open()
            db.raw.execute(_BEGIN)
        try:
            db.raw.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield db
        except BaseException:
            with suppress(self._psycopg.Error):
                db.raw.execute("ROLLBACK")
            raise
        db.raw.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        db: _Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.raw.close()
            self._local.db = None


def postgres_backend(url: str) -> PostgresBackend:
    """This process's backend for ``url``, opened (and the database migrated) once.

    Raises:
        GigaConfigError: psycopg is not installed, or the database cannot be reached (the
            message shows the URL without its password).

    Example:
        ```python
        backend = postgres_backend(os.environ["GIGA_JOURNAL_URL"])
        ```
    """
    with _BACKENDS_GUARD:
        backend = _BACKENDS.get(url)
        if backend is None:
            backend = _BACKENDS[url] = PostgresBackend(url)
        return backend
