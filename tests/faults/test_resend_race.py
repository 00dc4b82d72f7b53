"""The router's double-send race, as the live service has it: one signed payment handled twice
at once runs the handler twice and fails the second settlement with 500, its run discarded.
The client never sends one payment twice at once on its own; it re-sends only after giving up
on a reply, and this is exactly when the race happens. Each start must still be paid once
and end with a run whose output can be fetched."""

from __future__ import annotations

from pathlib import Path

from prefect_giga.testing import GigaEmulator

from .conftest import SigningCounter
from .items import prompt_for, wallet_key
from .report import REPORT
from .support import audit_ledger, fetch_output, make_client, start_until_known

KEY = wallet_key(700)
STARTS = 2


async def test_resend_racing_a_held_paid_request_is_paid_once_per_start(
    emulator: GigaEmulator, signed: SigningCounter, tmp_path: Path
) -> None:
    items = [(KEY, f"race-{i}") for i in range(STARTS)]
    race = emulator.resend_race
    async with make_client(emulator, KEY, timeout=2.0) as giga:
        for _, ikey in items:
            race.arm(1, wait_seconds=30.0)  # the paid request waits for its own resend
            outcome = await start_until_known(giga, ikey, prompt_for(ikey), attempts=1)
            assert outcome.started is not None, outcome.errors
            assert await fetch_output(giga, outcome.started.run_id, ikey, tmp_path)
            REPORT.outputs_checked += 1
    REPORT.starts += len(items)
    REPORT.faults["one payment handled twice at once (resend race)"] += race.raced
    audit = audit_ledger(emulator, items)
    assert audit.entries == len(items) and audit.duplicates == 0 and audit.unattributed == 0
    # Each payment was handled twice at once, and the held original's settlement failed.
    assert race.waited == race.raced == race.lost_settlements == len(items)
    assert len(emulator.runs) == len(items)  # the losing runs were discarded
    assert signed.count == len(items)  # one signature per start, re-sent, never re-signed
