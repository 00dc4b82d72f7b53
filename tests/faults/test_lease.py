"""Two processes starting the same logical key at once: one holds the journal's lease and pays,
the other waits for it and re-attaches to the run, without a request of its own (on a SQLite
file and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest

from prefect_giga.testing import GigaEmulator

from ..journal_backends import JournalSpec
from .report import REPORT
from .support import outcomes_of, spawn_client_process

WALLET = 710
SAFETY_NET = 60.0
"""Seconds the first process may take to pay (a safety net only; nothing is timed)."""


async def _until_paid(emulator: GigaEmulator, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + SAFETY_NET
    while not emulator.ledger:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the first process did not pay:\n{process.communicate()[1]}")
        await asyncio.sleep(0.01)


async def test_second_process_waits_for_the_lease_then_reattaches_without_paying(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    key = "leased-key"
    emulator.faults.hold_paid_replies(SAFETY_NET, count=1)
    first = spawn_client_process(emulator.url, [(WALLET, key)], journal_store)
    await _until_paid(emulator, first)  # paid and settled; its reply is held: lease held
    second = spawn_client_process(emulator.url, [(WALLET, key)], journal_store)
    assert second.stdout is not None
    announced = await asyncio.to_thread(second.stdout.readline)  # blocks until it waits
    starts_while_waiting = emulator.requests.copy()
    emulator.faults.release_held_replies()
    ours = (await asyncio.to_thread(outcomes_of, first))[key]
    theirs = (await asyncio.to_thread(outcomes_of, second))[key]
    REPORT.starts += 1
    assert json.loads(announced) == {"event": "lease_wait"}
    assert ours["run_id"] and not ours["reconciled"] and not ours["reattached"]
    assert theirs["run_id"] == ours["run_id"] and theirs["reattached"]
    start_requests = {k: n for k, n in emulator.requests.items() if k[0] == "start"}
    assert start_requests == {k: n for k, n in starts_while_waiting.items() if k[0] == "start"}
    assert sum(emulator.paid_requests.values()) == 1 and len(emulator.ledger) == 1
