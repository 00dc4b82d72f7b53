"""Settings every test shares: a private payment journal per test, and the journal's two
backends (SQLite, and PostgreSQL on a throwaway server started once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .journal_backends import BACKENDS, JournalSpec, postgres_unavailable
from .pg_server import PostgresServer, PostgresUnavailableError


@pytest.fixture(autouse=True)
def _isolated_payment_journal(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Each test gets its own payment journal, never the user's ~/.prefect-giga one."""
    path = tmp_path_factory.mktemp("journal") / "journal.sqlite3"
    monkeypatch.setenv("GIGA_JOURNAL_PATH", str(path))
    monkeypatch.delenv("GIGA_JOURNAL_URL", raising=False)
    yield path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped, or failed with
    ``GIGA_REQUIRE_POSTGRES=1``, when none can start here)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        postgres_unavailable("psycopg is not installed (pip install -e '.[test]')")
    try:
        server = PostgresServer()
    except PostgresUnavailableError as exc:
        postgres_unavailable(str(exc))
    try:
        server.start()
    except PostgresUnavailableError as exc:
        server.stop()
        postgres_unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def journal_store(
    request: pytest.FixtureRequest,
    _isolated_payment_journal: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> JournalSpec:
    """This test's payment journal, once on each backend; clients the test builds without a
    journal of their own use it too (``$GIGA_JOURNAL_URL`` / ``$GIGA_JOURNAL_PATH``)."""
    if request.param == "sqlite":
        return JournalSpec("sqlite", _isolated_payment_journal)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    monkeypatch.setenv("GIGA_JOURNAL_URL", url)
    return JournalSpec("postgresql", _isolated_payment_journal, url)
