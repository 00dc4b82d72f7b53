"""A client process killed between signing and the reply, then a new process for the same
items: every start is paid exactly once, found (claimed or re-attached), and downloadable
(on a SQLite file and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from prefect_giga.payments.journal import StartState
from prefect_giga.testing import GigaEmulator

from ..journal_backends import JournalSpec
from .items import prompt_for, wallet_key
from .report import REPORT
from .support import (
    address_of,
    audit_ledger,
    fetch_output,
    make_client,
    nonce_of,
    outcomes_of,
    spawn_client_process,
    start_until_known,
)

KILL_DEADLINE = 60.0
"""Seconds a crash round may wait for the doomed process to pay (a safety net only)."""


async def _wait_until_paid(
    emulator: GigaEmulator, payments: int, process: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + KILL_DEADLINE
    while len(emulator.ledger) < payments:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the client process exited before paying:\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the client process paid {len(emulator.ledger)} of {payments} in time")
        await asyncio.sleep(0.01)


def _kill(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL: no cleanup, no finally blocks, no journal writes
    process.communicate(timeout=10)
    assert process.returncode == -9


ROUNDS = [
    pytest.param(1, 4, "in-process", id="one-wallet-recovered-in-process"),
    pytest.param(3, 3, "new-process", id="three-wallets-recovered-by-a-new-process"),
    pytest.param(2, 3, "in-process", id="two-wallets-recovered-in-process"),
]


@pytest.mark.parametrize(("wallets", "per_wallet", "recovery"), ROUNDS)
async def test_killed_client_process_is_recovered_with_every_start_paid_once(
    emulator: GigaEmulator,
    journal_store: JournalSpec,
    tmp_path: Path,
    wallets: int,
    per_wallet: int,
    recovery: str,
) -> None:
    indexes = [600 + 10 * wallets + w for w in range(wallets)]
    items = [(w, f"crash-{w}-{i}") for w in indexes for i in range(per_wallet)]
    pairs = [(wallet_key(w), key) for w, key in items]

    # 1. The doomed process: every paid reply is held after settling; kill it once each
    #    wallet's first payment (one per wallet: `--one-at-a-time`) is on the ledger.
    emulator.faults.hold_paid_replies(120)
    doomed = spawn_client_process(emulator.url, items, journal_store, one_at_a_time=True)
    await _wait_until_paid(emulator, wallets, doomed)
    _kill(doomed)
    paid = {(e.payer.lower(), e.nonce.lower()) for e in emulator.ledger}
    assert len(paid) == wallets
    journal = journal_store.open()
    entries = {key: next(iter(journal.find(key)), None) for _, key in items}
    assert all(e is None or e.run_id is None for e in entries.values())  # no reply was seen
    sent = {
        (address_of(wallet_key(w)), nonce_of(wallet_key(w), key))
        for w, key in items
        if (entry := entries[key]) is not None and entry.state is StartState.SENT
    }
    assert sent == paid  # the journal knew exactly which payments had left

    # 2. A new process (or client) for the same items, the fault gone.
    emulator.faults.clear()
    clients = {w: make_client(emulator, wallet_key(w)) for w in indexes}
    try:
        if recovery == "new-process":
            lines = await asyncio.to_thread(
                outcomes_of, spawn_client_process(emulator.url, items, journal_store)
            )
            run_ids = {key: lines[key].get("run_id") for _, key in items}
            reconciled = sum(bool(lines[key].get("reconciled")) for _, key in items)
        else:
            outcomes = await asyncio.gather(
                *(start_until_known(clients[w], key, prompt_for(key)) for w, key in items)
            )
            run_ids = {o.key: o.started.run_id if o.started else None for o in outcomes}
            reconciled = sum(bool(o.started and o.started.reconciled) for o in outcomes)
        fetched = await asyncio.gather(
            *(fetch_output(clients[w], run_ids[key] or "", key, tmp_path) for w, key in items)
        )
        # 3. A third look, later: the journal re-attaches every start, nothing is paid.
        again = await asyncio.gather(
            *(clients[w].start(prompt_for(key), idempotency_key=key) for w, key in items)
        )
    finally:
        for client in clients.values():
            await client.aclose()

    audit = audit_ledger(emulator, pairs)
    recovered = sum(
        audit.per_key[key] == 1 and ok for (_, key), ok in zip(items, fetched, strict=True)
    )
    REPORT.starts += len(items)
    REPORT.faults["client killed after settlement"] += wallets
    REPORT.crash_kills += 1
    REPORT.crash_keys += len(items)
    REPORT.crash_recovered += recovered
    REPORT.unknown += wallets
    REPORT.resolved["claimed from /api/list"] += reconciled
    REPORT.outputs_checked += sum(fetched)
    REPORT.outputs_lost += len(items) - sum(fetched)
    assert all(run_ids.values()), run_ids
    assert reconciled == wallets  # exactly the starts whose reply the kill lost
    assert audit.entries == len(items) and audit.duplicates == 0 and audit.unattributed == 0
    assert all(audit.per_key[key] == 1 for _, key in items)
    assert all(fetched) and recovered == len(items)
    assert all(s.reattached and s.run_id == run_ids[s.idempotency_key or ""] for s in again)
    assert len(emulator.ledger) == len(items)
