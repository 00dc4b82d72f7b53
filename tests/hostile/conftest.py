"""Hostile-server test setup: a fresh emulator, a sandbox, a network guard, the tally."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_giga import GigaClient
from prefect_giga.testing import GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory
from tests.faults.items import FAST_RECONCILE, FAST_RETRY, wallet_key
from tests.faults.support import fast_config

from .support import TALLY, CountingSigner, NetworkGuard, files_outside


@pytest.fixture
def emulator(giga_emulator_factory: EmulatorFactory) -> GigaEmulator:
    """A fresh emulator (fast clock, long-lived links) for one test."""
    return giga_emulator_factory(fast_config())


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A folder holding the destination ``sandbox/out/dest`` and nothing else."""
    (tmp_path / "sandbox" / "out" / "dest").mkdir(parents=True)
    return tmp_path / "sandbox"


@pytest.fixture
def dest(sandbox: Path) -> Path:
    """The download destination inside the sandbox."""
    return sandbox / "out" / "dest"


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Every connection this test opens, refused beyond loopback (and counted)."""
    return NetworkGuard(monkeypatch)


@pytest.fixture(autouse=True)
def _count_outside(sandbox: Path, dest: Path, network: NetworkGuard) -> Any:
    """After each test, add the files found outside the destination, and the connections
    that tried to leave loopback, to the tally."""
    yield
    TALLY.files_outside += len(files_outside(sandbox, dest))
    TALLY.foreign_requests += len(network.refused)


@pytest.fixture
def signer() -> CountingSigner:
    """A wallet that counts the SIWX texts it signs."""
    return CountingSigner(wallet_key(300))


@pytest.fixture
def make_client(emulator: GigaEmulator, signer: CountingSigner) -> Callable[..., GigaClient]:
    """Clients of ``emulator`` that sign with the counting ``signer``."""

    def make(**kwargs: Any) -> GigaClient:
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("reconcile", FAST_RECONCILE)
        return GigaClient(signer=signer, base_url=emulator.url, **kwargs)

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the hostile-server figures when any hostile test ran."""
    if not TALLY.cases:
        return
    terminalreporter.write_sep("=", "hostile-server figures")
    for line in TALLY.render():
        terminalreporter.write_line(line)
