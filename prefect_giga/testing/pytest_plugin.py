"""Pytest fixtures that serve the Giga emulator: ``giga_emulator`` and ``giga_emulator_factory``.

Registered through the ``pytest11`` entry point ``prefect_giga.testing.pytest_plugin``. The
emulator is imported only when a fixture is used, so the plugin costs nothing otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from prefect_giga.testing.config import EmulatorConfig
    from prefect_giga.testing.emulator import GigaEmulator

__all__ = ["SESSION_TIME_SCALE", "EmulatorFactory", "giga_emulator", "giga_emulator_factory"]

SESSION_TIME_SCALE = 1000.0
"""The session emulator runs 1000 agent seconds per real second (a 30 s run takes 30 ms)."""

EmulatorFactory = Callable[..., "GigaEmulator"]
"""``giga_emulator_factory``'s type: ``(config=None, **overrides) -> GigaEmulator``."""


@pytest.fixture(scope="session")
def giga_emulator() -> Iterator[GigaEmulator]:
    """A running emulator shared by the whole session (default config: today's tiers, bare
    hostname SIWX domains, as the live service).

    Its clock runs at `SESSION_TIME_SCALE`. It is shared: a test that changes faults,
    freezes the clock or needs an empty ledger should call ``giga_emulator.reset()`` or use
    ``giga_emulator_factory`` instead.

    Example:
        >>> def test_start(giga_emulator):
        ...     assert giga_emulator.url.startswith("http://127.0.0.1:")
    """
    from prefect_giga.testing.config import EmulatorConfig
    from prefect_giga.testing.emulator import GigaEmulator

    emulator = GigaEmulator(EmulatorConfig(time_scale=SESSION_TIME_SCALE))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture
def giga_emulator_factory() -> Iterator[EmulatorFactory]:
    """Start emulators with a custom config; all are stopped when the test ends.

    Call it with an `EmulatorConfig`, keyword overrides, or both.

    Example:
        >>> def test_hostname_mode(giga_emulator_factory):
        ...     emulator = giga_emulator_factory(siwx_domain="hostname", manual_clock=True)
        ...     emulator.clock.advance(30)
    """
    from prefect_giga.testing.config import EmulatorConfig
    from prefect_giga.testing.emulator import GigaEmulator

    started: list[GigaEmulator] = []

    def factory(config: EmulatorConfig | None = None, **overrides: Any) -> GigaEmulator:
        if config is None:
            config = EmulatorConfig(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        emulator = GigaEmulator(config)
        started.append(emulator)
        emulator.start()
        return emulator

    try:
        yield factory
    finally:
        for emulator in started:
            emulator.close()
