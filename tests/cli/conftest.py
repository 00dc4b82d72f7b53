"""Command-line test setup: an emulator per module, a fresh wallet per test, and a runner
that calls ``prefect-giga`` in process with that wallet in the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from eth_account import Account
from typer.testing import CliRunner

from prefect_giga.cli import app
from prefect_giga.testing import EmulatorConfig, GigaEmulator, LedgerEntry

ENTRY_POINT = Path(sys.executable).parent / "prefect-giga"
"""The installed console script (the same virtual environment as the tests)."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[GigaEmulator]:
    """One emulator for the module: runs finish within milliseconds, links outlive the test."""
    server = GigaEmulator(EmulatorConfig(time_scale=1000.0, file_url_ttl_seconds=10.0**6))
    server.start()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Cli:
    """Invokes ``prefect-giga`` with one wallet and one server in its environment."""

    key: str
    url: str
    journal: Path

    @property
    def address(self) -> str:
        """The wallet's address."""
        return str(Account.from_key(self.key).address)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a command runs with."""
        return {
            "GIGA_PRIVATE_KEY": self.key,
            "GIGA_BASE_URL": self.url,
            "GIGA_JOURNAL_PATH": str(self.journal),
            **extra,
        }

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        """Run one command in process (typer's runner); stdout and stderr kept apart."""
        return CliRunner().invoke(app, list(args), env=self.env(**env), input=input)

    def json(self, *args: str, code: int = 0, **env: str) -> Any:
        """Run one command with ``--json``, check its exit status, and parse its stdout."""
        result = self(*args, "--json", **env)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def subprocess(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run one command through the installed ``prefect-giga`` entry point."""
        return run_entry_point(args, {**os.environ, **self.env(**env)})


def run_entry_point(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``prefect-giga ARGS`` as its own process."""
    return subprocess.run(
        [str(ENTRY_POINT), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def cli(emulator: GigaEmulator, _isolated_payment_journal: Path) -> Cli:
    """The command line with a fresh funded wallet (the emulator funds every wallet)."""
    return Cli("0x" + bytes(Account.create().key).hex(), emulator.url, _isolated_payment_journal)


def paid_by(emulator: GigaEmulator, address: str) -> list[LedgerEntry]:
    """The emulator's settled payments made by ``address``."""
    return [e for e in emulator.ledger if e.payer.lower() == address.lower()]
