"""A local Giga emulator that verifies x402 payments and SIWX proofs for real.

Start one with ``with GigaEmulator(EmulatorConfig(...)).run() as server: server.url``, or
use the ``giga_emulator`` / ``giga_emulator_factory`` pytest fixtures. Names are imported
lazily, so importing this package stays cheap until the emulator is used.

Example:
    >>> from prefect_giga.testing import EmulatorConfig, GigaEmulator
    >>> with GigaEmulator(EmulatorConfig(manual_clock=True)).run() as server:
    ...     server.emulator.clock.advance(30)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_giga.testing.agent import (
        Agent,
        AgentContext,
        AgentResult,
        Attachment,
        LogRecord,
        default_agent,
    )
    from prefect_giga.testing.clock import Clock
    from prefect_giga.testing.config import (
        DEFAULT_PAYEE,
        DEFAULT_TIERS,
        SEED_TIERS,
        TODAY_TIERS,
        EmulatorConfig,
        tier_table,
    )
    from prefect_giga.testing.emulator import GigaEmulator
    from prefect_giga.testing.faults import BodyFault, ErrorFault, Faults
    from prefect_giga.testing.hostile import Hostile, StashOutcome
    from prefect_giga.testing.ledger import LedgerEntry
    from prefect_giga.testing.runs import Run
    from prefect_giga.testing.server import EmulatorServer
    from prefect_giga.testing.stash import settle_stashed

__all__ = [
    "DEFAULT_PAYEE",
    "DEFAULT_TIERS",
    "SEED_TIERS",
    "TODAY_TIERS",
    "Agent",
    "AgentContext",
    "AgentResult",
    "Attachment",
    "BodyFault",
    "Clock",
    "EmulatorConfig",
    "EmulatorServer",
    "ErrorFault",
    "Faults",
    "GigaEmulator",
    "Hostile",
    "LedgerEntry",
    "LogRecord",
    "Run",
    "StashOutcome",
    "default_agent",
    "settle_stashed",
    "tier_table",
]

_HOMES = {
    "Agent": "agent",
    "AgentContext": "agent",
    "AgentResult": "agent",
    "Attachment": "agent",
    "LogRecord": "agent",
    "default_agent": "agent",
    "Clock": "clock",
    "DEFAULT_PAYEE": "config",
    "DEFAULT_TIERS": "config",
    "SEED_TIERS": "config",
    "TODAY_TIERS": "config",
    "EmulatorConfig": "config",
    "tier_table": "config",
    "GigaEmulator": "emulator",
    "BodyFault": "faults",
    "ErrorFault": "faults",
    "Faults": "faults",
    "Hostile": "hostile",
    "StashOutcome": "hostile",
    "settle_stashed": "stash",
    "LedgerEntry": "ledger",
    "Run": "runs",
    "EmulatorServer": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
