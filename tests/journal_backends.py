"""The payment journal's two backends, for tests that run against both: which journal a test
uses (`JournalSpec`), how to open it, and the environment that points a process at it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from prefect_giga.payments.journal import Journal

__all__ = ["BACKENDS", "REQUIRE_POSTGRES_ENV", "JournalSpec", "postgres_unavailable"]

BACKENDS = ("sqlite", "postgresql")
REQUIRE_POSTGRES_ENV = "GIGA_REQUIRE_POSTGRES"
"""Set to ``1`` (CI does) to fail, not skip, the PostgreSQL cases when no server can start."""


@dataclass(frozen=True)
class JournalSpec:
    """One test's payment journal: a SQLite file or a fresh PostgreSQL database.

    Attributes:
        backend: ``"sqlite"`` or ``"postgresql"``.
        path: The SQLite file (``$GIGA_JOURNAL_PATH`` of the test).
        url: The PostgreSQL database's URL (``$GIGA_JOURNAL_URL`` of the test).
    """

    backend: str
    path: Path
    url: str | None = None

    def open(self, clock: Callable[[], float] | None = None) -> Journal:
        """A `Journal` on this test's journal (another one: as another process would)."""
        if self.url is not None:
            return Journal(url=self.url, clock=clock)
        return Journal(self.path, clock=clock)

    def env(self) -> dict[str, str]:
        """The environment variables that point a process at this journal."""
        if self.url is not None:
            return {"GIGA_JOURNAL_URL": self.url}
        return {"GIGA_JOURNAL_PATH": str(self.path)}


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip the PostgreSQL case for ``reason``, or fail it when ``GIGA_REQUIRE_POSTGRES=1``."""
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE_POSTGRES_ENV}=1) but {reason}")
    pytest.skip(f"PostgreSQL journal cases skipped: {reason}")
