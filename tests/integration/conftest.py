"""Shared helpers for tests that talk to the emulator over a real socket."""

from __future__ import annotations

import json
from pathlib import Path

from prefect_giga import GigaClient, Run

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "test-vectors.json").read_text()
)
TEST_KEY: str = VECTORS["privateKey"]
"""The public Hardhat/Anvil test key #0 (never funded anywhere real)."""
OTHER_KEY = "0x" + "22" * 32


async def read_until_terminal(giga: GigaClient, run_id: str, *, max_reads: int = 500) -> Run:
    """Read until the run is terminal; the emulator's clock decides when (no sleeping)."""
    for _ in range(max_reads):
        run = await giga.read(run_id)
        if run.status.is_terminal:
            return run
    raise AssertionError(f"run {run_id} did not finish within {max_reads} reads")
