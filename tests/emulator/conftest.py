"""Emulator test setup.

The package is not installed here, so its ``pytest11`` entry point is not active: import
the plugin's fixtures directly (this also works, and takes precedence, once it is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from prefect_giga.testing import EmulatorConfig, GigaEmulator
from prefect_giga.testing.pytest_plugin import SESSION_TIME_SCALE, giga_emulator_factory

from .emulator_support import SDK_OPT_INS

__all__ = ["giga_emulator_factory"]


@pytest.fixture(scope="session")
def giga_emulator() -> Iterator[GigaEmulator]:
    """The plugin's session emulator, with this suite's opt-ins (`SDK_OPT_INS`)."""
    emulator = GigaEmulator(EmulatorConfig(time_scale=SESSION_TIME_SCALE, **SDK_OPT_INS))
    emulator.start()
    yield emulator
    emulator.close()


@pytest.fixture(scope="session")
def _manual_emulator() -> Iterator[GigaEmulator]:
    emulator = GigaEmulator(EmulatorConfig(manual_clock=True, **SDK_OPT_INS))
    emulator.start()
    yield emulator
    emulator.close()


@pytest.fixture
def emulator(_manual_emulator: GigaEmulator) -> GigaEmulator:
    """A shared emulator with a manual clock, reset to a fresh state for each test."""
    _manual_emulator.reset()
    _manual_emulator.clock.freeze()
    return _manual_emulator


@pytest.fixture
async def http(emulator: GigaEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client pointed at ``emulator``."""
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        yield client
